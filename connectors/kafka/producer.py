"""Publish typed events to their declared topic outside a dataflow (simulators, bridges, tools).

Every send takes an optional record ``timestamp``: the producer's notion of now (a simulator's simulated
clock, a device's clock). Consumers check event time against it (:mod:`streams.edge`); without one the
record gets the time it is produced.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from connectors.kafka.clients import producer_config
from connectors.kafka.topics import Topic
from millstream.serde import encode
from millstream.settings import KafkaSettings

__all__ = ["EventProducer", "message_key", "timestamp_ms"]

logger = logging.getLogger(__name__)


def message_key(topic: Topic, event: Any) -> bytes | None:
    """The partitioning key of ``event`` on ``topic`` (the field the topic declares), as bytes."""
    value = getattr(event, topic.key, None)
    return None if value is None else str(value).encode()


def timestamp_ms(at: datetime | None) -> int:
    """A record timestamp in epoch milliseconds; 0 (librdkafka: "now") for ``None``."""
    return 0 if at is None else int(at.timestamp() * 1000)


class EventProducer:
    """An idempotent producer that encodes events with the project serde and keys them per topic."""

    def __init__(self, settings: KafkaSettings, **extra_config: Any) -> None:
        self._settings = settings
        self._producer = Producer({**producer_config(settings), **extra_config})
        self.delivered = 0
        self.failed = 0

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
        else:
            self.failed += 1
            logger.error("delivery to %s[%s] failed: %s", msg.topic(), msg.partition(), err.str())

    def send(self, topic: Topic, event: Any, key: bytes | None = None, *, timestamp: datetime | None = None) -> None:
        """Queue ``event`` for ``topic``; blocks briefly only when the local queue is full.

        ``timestamp`` is the record timestamp (the producer's now); default: the time of sending.
        """
        k = key if key is not None else message_key(topic, event)
        self.send_raw(topic, encode(event), k, timestamp=timestamp)

    def send_raw(
        self, topic: Topic, value: bytes | None, key: bytes | None = None, *, timestamp: datetime | None = None
    ) -> None:
        """Queue raw bytes (tests and replays of dead letters), with an optional record timestamp."""
        name = topic.full_name(self._settings)
        while True:
            try:
                self._producer.produce(name, value=value, key=key, timestamp=timestamp_ms(timestamp),
                                       on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> int:
        """Wait for outstanding deliveries; returns how many are still queued."""
        return self._producer.flush(timeout_s)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
