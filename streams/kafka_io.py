"""Kafka in and out of dataflows with the project serde: typed events in, typed events and dead letters out.

``read_events`` validates every message at the edge: good ones become events, bad ones (malformed JSON,
wrong fields, out-of-range values, timestamps outside the time policy) and consumer errors become
:class:`DeadLetter` items carrying topic, partition and offset, for ``write_dead_letters`` to publish to
``dlq`` and count.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import bytewax.connectors.kafka.operators as kop
import bytewax.operators as op
from bytewax.connectors.kafka import KafkaError, KafkaSinkMessage, KafkaSourceMessage
from bytewax.dataflow import Dataflow, Stream, operator
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from pydantic import BaseModel

from connectors.kafka.clients import consumer_config, producer_config, source_config
from connectors.kafka.producer import message_key
from connectors.kafka.topics import DLQ, Topic
from millstream.clock import process_clock, record_timestamp_ms
from millstream.errors import DecodeError
from millstream.events import DeadLetter, TimePolicy
from millstream.metrics import (
    CONSUMER_LAG,
    DEAD_LETTERS,
    EVENTS_ACCEPTED,
    EVENTS_IN,
    EVENTS_OUT,
    PROCESSING_LATENCY,
)
from millstream.serde import decode, encode
from millstream.settings import Settings
from streams.operators import Checked, split_dead_letters

__all__ = ["LagTracker", "read_events", "write_dead_letters", "write_events"]

LAG_INTERVAL_S = 5.0


class LagTracker:
    """Consumer lag per partition (``millstream_consumer_lag_records``): the flow's last offset against the
    partition's end, polled every :data:`LAG_INTERVAL_S` seconds by a daemon thread once records arrive."""

    def __init__(self, settings: Settings, stage: str) -> None:
        self._settings = settings
        self._stage = stage
        self._positions: dict[tuple[str, int], int] = {}
        self._thread: threading.Thread | None = None

    def seen(self, topic: str | None, partition: int | None, offset: int | None) -> None:
        if topic is None or partition is None or offset is None:
            return
        self._positions[(topic, partition)] = offset
        if self._thread is None:
            self._thread = threading.Thread(target=self._poll, name=f"lag-{self._stage}", daemon=True)
            self._thread.start()

    def _poll(self) -> None:
        consumer = Consumer({**consumer_config(self._settings.kafka, f"lag.{self._stage}")})
        try:
            while True:
                for (topic, partition), offset in list(self._positions.items()):
                    try:
                        _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=5.0)
                    except KafkaException:
                        continue
                    CONSUMER_LAG.labels(self._stage, topic, str(partition)).set(max(0, high - offset - 1))
                time.sleep(LAG_INTERVAL_S)
        finally:
            consumer.close()

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
) -> Checked[E]:
    """Consume ``topic`` and validate each message into ``model`` (default: the topic's event type)."""
    event_type = model or topic.event_type
    if event_type is None:
        msg = f"topic {topic.name} declares no event type; pass model="
        raise ValueError(msg)
    policy = TimePolicy.from_settings(settings.events)
    stage = step_id

    clock = process_clock(settings.clock)
    lag = LagTracker(settings, stage)

    def decode_message(msg: KafkaSourceMessage[bytes | None, bytes | None]) -> Any:
        EVENTS_IN.labels(stage).inc()
        if msg.timestamp and msg.timestamp[1] > 0:
            age_s = clock.now().timestamp() - msg.timestamp[1] / 1000
            PROCESSING_LATENCY.labels(stage).observe(max(0.0, age_s / clock.speed))
        lag.seen(msg.topic, msg.partition, msg.offset)
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
        add_config=source_config(settings.kafka),
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
        EVENTS_OUT.labels(step_id).inc()
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
