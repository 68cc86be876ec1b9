"""Kafka in and out of dataflows with the project serde: typed events in, typed events and dead letters out.

``read_events`` validates every message at the edge: good ones become events, bad ones (malformed JSON,
wrong fields, out-of-range values, timestamps outside the time policy) and consumer errors become
:class:`DeadLetter` items carrying topic, partition and offset, for ``write_dead_letters`` to publish to
``dlq`` and count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import bytewax.connectors.kafka.operators as kop
import bytewax.operators as op
from bytewax.connectors.kafka import KafkaError, KafkaSinkMessage, KafkaSourceMessage
from bytewax.dataflow import Dataflow, Stream, operator
from confluent_kafka import OFFSET_BEGINNING
from pydantic import BaseModel

from connectors.kafka.clients import consumer_config, producer_config
from connectors.kafka.producer import message_key
from connectors.kafka.topics import DLQ, Topic
from millstream.clock import record_timestamp_ms
from millstream.errors import DecodeError
from millstream.events import DeadLetter, TimePolicy
from millstream.metrics import DEAD_LETTERS, EVENTS_ACCEPTED
from millstream.serde import decode, encode
from millstream.settings import Settings
from streams.operators import Checked, split_dead_letters

__all__ = ["read_events", "write_dead_letters", "write_events"]

E = TypeVar("E", bound=BaseModel)


@operator
def read_events(
    step_id: str,
    flow: Dataflow,
    topic: Topic,
    settings: Settings,
    *,
    model: type[E] | None = None,
    tail: bool = True,
    starting_offset: int = OFFSET_BEGINNING,
    group_suffix: str = "",
) -> Checked[E]:
    """Consume ``topic`` and validate each message into ``model`` (default: the topic's event type)."""
    event_type = model or topic.event_type
    if event_type is None:
        msg = f"topic {topic.name} declares no event type; pass model="
        raise ValueError(msg)
    policy = TimePolicy.from_settings(settings.events)
    stage = step_id

    def decode_message(msg: KafkaSourceMessage[bytes | None, bytes | None]) -> Any:
        try:
            event = decode(msg.value, event_type, time_policy=policy)
        except DecodeError as exc:
            return DeadLetter.of(msg.value, stage=stage, reason=exc.reason, error_type=exc.error_type,
                                 topic=msg.topic, partition=msg.partition, offset=msg.offset, key=msg.key)
        EVENTS_ACCEPTED.labels(stage).inc()
        return event

    def consumer_error(err: KafkaError[bytes | None, bytes | None]) -> DeadLetter:
        m = err.msg
        return DeadLetter.of(m.value, stage=stage, reason=err.err.str(), error_type="kafka_error",
                             topic=m.topic, partition=m.partition, offset=m.offset, key=m.key)

    source = kop.input(
        "kafka_in", flow, brokers=[settings.kafka.bootstrap_servers], topics=[topic.full_name(settings.kafka)],
        tail=tail, starting_offset=starting_offset,
        add_config=consumer_config(settings.kafka, group_suffix or step_id),
    )
    decoded = split_dead_letters("split", op.map("decode", source.oks, decode_message))
    errs = op.merge("errs", decoded.errs, op.map("consumer_errors", source.errs, consumer_error))
    return Checked(decoded.oks, errs)


@operator
def write_events(
    step_id: str,
    up: Stream[Any],
    topic: Topic,
    settings: Settings,
    *,
    key: Callable[[Any], bytes | None] | None = None,
) -> None:
    """Encode events and produce them to ``topic``, keyed by the topic's key field (or ``key(event)``).

    The record timestamp (CreateTime) is the process clock's now: the run's simulated clock under
    ``millstream up`` (``MILLSTREAM_CLOCK__*``), else the producer's wall clock."""
    key_of = key or (lambda event: message_key(topic, event))
    clock = settings.clock

    def to_message(event: Any) -> KafkaSinkMessage[bytes | None, bytes | None]:
        return KafkaSinkMessage(key=key_of(event), value=encode(event), timestamp=record_timestamp_ms(clock) or 0)

    kop.output(
        "kafka_out", op.map("encode", up, to_message),
        brokers=[settings.kafka.bootstrap_servers], topic=topic.full_name(settings.kafka),
        add_config=producer_config(settings.kafka),
    )


@operator
def write_dead_letters(step_id: str, errs: Stream[DeadLetter], settings: Settings) -> None:
    """Count dead letters (``millstream_dead_letters_total``) and publish them to ``dlq``, keyed by source."""

    def counted(letter: DeadLetter) -> DeadLetter:
        DEAD_LETTERS.labels(letter.stage, letter.error_type).inc()
        return letter

    def source_key(letter: DeadLetter) -> bytes | None:
        return (letter.source_topic or letter.stage).encode()

    write_events("dlq", op.map("count", errs, counted), DLQ, settings, key=source_key)
