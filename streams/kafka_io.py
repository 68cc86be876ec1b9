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
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import bytewax.connectors.kafka.operators as kop
import bytewax.operators as op
from bytewax.connectors.kafka import KafkaError, KafkaSinkMessage, KafkaSourceMessage
from bytewax.dataflow import Dataflow, Stream, operator
from confluent_kafka import OFFSET_BEGINNING
from pydantic import BaseModel

from connectors.kafka.clients import consumer_config, producer_config
from connectors.kafka.producer import EventProducer, message_key, timestamp_ms
from connectors.kafka.topics import DLQ, Topic
from millstream.events import DeadLetter, TimePolicy
from millstream.metrics import DEAD_LETTERS, EVENTS_ACCEPTED
from millstream.serde import encode
from millstream.settings import Settings
from streams.edge import admit
from streams.operators import Checked, split_dead_letters

__all__ = ["DlqPublisher", "read_events", "write_dead_letters", "write_events"]

logger = logging.getLogger(__name__)

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
    max_bytes = settings.events.max_message_bytes

    def decode_message(msg: KafkaSourceMessage[bytes | None, bytes | None]) -> Any:
        event = admit(msg, event_type, stage=stage, policy=policy, max_bytes=max_bytes)
        if not isinstance(event, DeadLetter):
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
    timestamp: Callable[[Any], datetime | None] | None = None,
) -> None:
    """Encode events and produce them to ``topic``, keyed by the topic's key field (or ``key(event)``).

    ``timestamp(event)`` is the record timestamp (the producer's now, e.g. a simulated clock); without it
    the record gets the time it is produced.
    """
    key_of = key or (lambda event: message_key(topic, event))

    def to_message(event: Any) -> KafkaSinkMessage[bytes | None, bytes | None]:
        at = timestamp(event) if timestamp is not None else None
        return KafkaSinkMessage(key=key_of(event), value=encode(event), timestamp=timestamp_ms(at))

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
