"""Kafka in and out of dataflows with the project serde: typed events in, typed events and dead letters out.

``read_events`` validates every message at the edge (:func:`streams.edge.admit`): good ones become events, bad
ones (oversized, malformed JSON, wrong fields, out-of-range values, timestamps outside the time policy measured
against the record's timestamp) and consumer errors become :class:`DeadLetter` items carrying topic, partition
and offset, for ``write_dead_letters`` to publish to ``dlq`` and count. ``write_events`` can set each record's
timestamp (``timestamp=``): producers stamp records with their notion of now.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import bytewax.connectors.kafka.operators as kop
import bytewax.operators as op
from bytewax.connectors.kafka import KafkaError, KafkaSinkMessage, KafkaSourceMessage
from bytewax.dataflow import Dataflow, Stream, operator
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from pydantic import BaseModel

from connectors.kafka.clients import consumer_config, producer_config, source_config
from connectors.kafka.producer import EventProducer, message_key, timestamp_ms
from connectors.kafka.topics import DLQ, Topic
from millstream.clock import process_clock, record_timestamp_ms
from millstream.events import DeadLetter, TimePolicy
from millstream.metrics import (
    CONSUMER_LAG,
    DEAD_LETTERS,
    EVENTS_ACCEPTED,
    EVENTS_IN,
    EVENTS_OUT,
    PROCESSING_LATENCY,
)
from millstream.serde import encode
from millstream.settings import Settings
from streams.edge import admit
from streams.operators import Checked, split_dead_letters

__all__ = ["DlqPublisher", "LagTracker", "read_events", "write_dead_letters", "write_events"]

logger = logging.getLogger(__name__)

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
    batch_size: int = 1000,
    tag: Callable[[KafkaSourceMessage[bytes | None, bytes | None], Any], Any] | None = None,
) -> Checked[E]:
    """Consume ``topic`` and validate each message into ``model`` (default: the topic's event type).

    ``batch_size`` bounds how many messages one partition yields before the next is polled (smaller keeps
    partitions closer together in event time while catching up); with ``tag`` each good event is passed on
    as ``tag(message, event)`` (e.g. to keep the partition it came from)."""
    event_type = model or topic.event_type
    if event_type is None:
        msg = f"topic {topic.name} declares no event type; pass model="
        raise ValueError(msg)
    policy = TimePolicy.from_settings(settings.events)
    stage = step_id
    max_bytes = settings.events.max_message_bytes

    clock = process_clock(settings.clock)
    lag = LagTracker(settings, stage)
    received, accepted = EVENTS_IN.labels(stage), EVENTS_ACCEPTED.labels(stage)
    latency = PROCESSING_LATENCY.labels(stage)

    def decode_message(msg: KafkaSourceMessage[bytes | None, bytes | None]) -> Any:
        received.inc()
        if msg.timestamp and msg.timestamp[1] > 0:
            age_s = clock.now().timestamp() - msg.timestamp[1] / 1000
            latency.observe(max(0.0, age_s / clock.speed))
        lag.seen(msg.topic, msg.partition, msg.offset)
        event = admit(msg, event_type, stage=stage, policy=policy, max_bytes=max_bytes)
        if not isinstance(event, DeadLetter):
            accepted.inc()
        return event if tag is None or isinstance(event, DeadLetter) else tag(msg, event)

    def consumer_error(err: KafkaError[bytes | None, bytes | None]) -> DeadLetter:
        m = err.msg
        return DeadLetter.of(m.value, stage=stage, reason=err.err.str(), error_type="kafka_error",
                             topic=m.topic, partition=m.partition, offset=m.offset, key=m.key)

    source = kop.input(
        "kafka_in", flow, brokers=[settings.kafka.bootstrap_servers], topics=[topic.full_name(settings.kafka)],
        tail=tail, starting_offset=starting_offset, batch_size=batch_size,
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
    timestamp: Callable[[Any], datetime | None] | None = None,
) -> None:
    """Encode events and produce them to ``topic``, keyed by the topic's key field (or ``key(event)``).

    ``timestamp(event)`` is the record timestamp (the producer's now, e.g. a simulated clock); without it the
    record gets the process clock's now: the run's simulated clock under ``millstream up``
    (``MILLSTREAM_CLOCK__*``), else the time it is produced.
    """
    key_of = key or (lambda event: message_key(topic, event))
    clock = settings.clock

    def to_message(event: Any) -> KafkaSinkMessage[bytes | None, bytes | None]:
        EVENTS_OUT.labels(step_id).inc()
        at = timestamp(event) if timestamp is not None else None
        stamp = timestamp_ms(at) if at is not None else record_timestamp_ms(clock) or 0
        return KafkaSinkMessage(key=key_of(event), value=encode(event), timestamp=stamp)

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


class DlqPublisher:
    """Publishes dead letters made outside the dataflow's streams (rows a sink's database refused) to ``dlq``,
    waiting until the broker has them: ``PostgresSink(..., publish=DlqPublisher(settings))``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: EventProducer | None = None
        self._lock = threading.Lock()

    def __call__(self, letters: list[DeadLetter]) -> None:
        with self._lock:
            self._publish(letters)

    def _publish(self, letters: list[DeadLetter]) -> None:
        if self._producer is None:
            self._producer = EventProducer(self._settings.kafka)
        producer = self._producer
        failed = producer.failed
        for letter in letters:
            producer.send(DLQ, letter, key=(letter.source_topic or letter.stage).encode())
        while producer.flush(30.0) > 0 or producer.failed > failed:
            logger.warning("dlq: %d dead letters not yet delivered; retrying", len(letters))
            failed = producer.failed
            for letter in letters:  # the same ids again: consumers dedupe on the dead letter's id
                producer.send(DLQ, letter, key=(letter.source_topic or letter.stage).encode())
