"""Helpers for tests that read back what a flow or a producer wrote to the real broker."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Message, TopicPartition

from connectors.kafka.clients import consumer_config
from connectors.kafka.topics import DLQ
from millstream.settings import Settings


def consume_messages(settings: Settings, topic: str, expected: int, timeout_s: float = 30) -> list[Message]:
    """Read ``topic`` from the start until ``expected`` messages arrived (or ``timeout_s`` passed).

    Asking for more than should be there, with a short timeout, checks that nothing extra was written.
    """
    consumer = Consumer(consumer_config(settings.kafka, f"check-{uuid.uuid4().hex[:6]}"))
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                messages.append(msg)
    finally:
        consumer.close()
    return messages


def consume_all(settings: Settings, topic: str, expected: int, timeout_s: float = 30) -> list[bytes]:
    """The values of :func:`consume_messages`."""
    return [m.value() for m in consume_messages(settings, topic, expected, timeout_s)]


def dlq_size(settings: Settings) -> int:
    """How many records the (one-partition) ``dlq`` topic holds: its watermarks, without reading it."""
    consumer = Consumer(consumer_config(settings.kafka, f"check-{uuid.uuid4().hex[:6]}"))
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(DLQ.full_name(settings.kafka), 0), timeout=10)
    finally:
        consumer.close()
    return high - low
