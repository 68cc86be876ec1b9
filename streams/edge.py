"""Edge validation of one Kafka record: it becomes an event or a dead letter, never an exception.

:func:`admit` is what :func:`streams.kafka_io.read_events` runs on every record. Its verdict depends only on
the record — its value and its Kafka timestamp — so the same input gives the same events and the same dead
letters whenever it is processed:

- A value larger than ``max_bytes`` is dead-lettered (``oversize``) with its size, SHA-256 and first bytes.
- The time check (:class:`TimePolicy`: not more than the skew in the future, not older than the retention)
  measures event time against the record's timestamp — the producer's notion of now (CreateTime; the
  simulated clock for simulators) or the broker's (LogAppendTime) — never against the consumer's clock. A
  record without a timestamp is not time-checked.
- Anything the bytes of one record provoke (bad JSON, wrong fields, overflow, recursion depth, encoding) is an
  input error with a reason; even an unexpected exception becomes a dead letter (``invalid_input``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from bytewax.connectors.kafka import KafkaSourceMessage
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE
from pydantic import BaseModel

from millstream.errors import DecodeError
from millstream.events import DeadLetter, TimePolicy
from millstream.serde import decode

__all__ = ["admit", "record_time"]

logger = logging.getLogger(__name__)


def record_time(timestamp: tuple[int, int] | None) -> datetime | None:
    """The Kafka record timestamp ``(type, ms)`` as UTC, ``None`` when the record has none.

    Raises ``ValueError`` when it is outside what a datetime can hold.
    """
    if timestamp is None:
        return None
    kind, ms = timestamp
    if kind == TIMESTAMP_NOT_AVAILABLE or ms < 0:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        msg = f"record timestamp {ms} ms is out of range"
        raise ValueError(msg) from None


def admit(
    msg: KafkaSourceMessage[bytes | None, bytes | None],
    model: type[BaseModel],
    *,
    stage: str,
    policy: TimePolicy | None,
    max_bytes: int,
) -> Any:
    """``msg`` validated into ``model``, or a :class:`DeadLetter` saying why not."""

    def dead(reason: str, error_type: str, limit: int | None = None) -> DeadLetter:
        extra = {} if limit is None else {"limit": limit}
        return DeadLetter.of(msg.value, stage=stage, reason=reason, error_type=error_type, topic=msg.topic,
                             partition=msg.partition, offset=msg.offset, key=msg.key, **extra)

    try:
        size = len(msg.value or b"")
        if size > max_bytes:
            return dead(f"message of {size} bytes exceeds the limit of {max_bytes} bytes "
                        "(dead letter keeps its size, SHA-256 and first 1 KiB)", "oversize", limit=max_bytes)
        try:
            now = record_time(msg.timestamp)
        except ValueError as exc:
            return dead(str(exc), "validation")
        return decode(msg.value, model, time_policy=policy if now is not None else None, now=now)
    except DecodeError as exc:
        return dead(exc.reason, exc.error_type)
    except Exception as exc:  # the edge never raises on content; the letter keeps the cause
        logger.debug("unexpected error validating %s[%s]@%s", msg.topic, msg.partition, msg.offset, exc_info=True)
        return dead(f"{type(exc).__name__}: {exc}", "invalid_input")
