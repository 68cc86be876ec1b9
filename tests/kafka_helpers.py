"""Helpers for tests that read back what a flow wrote to the real broker."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer

from connectors.kafka.clients import consumer_config
from millstream.settings import Settings


def consume_all(settings: Settings, topic: str, expected: int, timeout_s: float = 30) -> list[bytes]:
    """Read ``topic`` from the start until ``expected`` values arrived (or the timeout passed)."""
    consumer = Consumer(consumer_config(settings.kafka, f"check-{uuid.uuid4().hex[:6]}"))
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(values) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
    finally:
        consumer.close()
    return values
