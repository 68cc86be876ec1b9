"""librdkafka client configurations built from :class:`KafkaSettings` (one place for each kind)."""

from __future__ import annotations

from typing import Any

from millstream.settings import KafkaSettings

__all__ = ["admin_config", "consumer_config", "producer_config", "source_config"]


def producer_config(settings: KafkaSettings) -> dict[str, Any]:
    """Idempotent producer: retries never duplicate or reorder within a partition."""
    return {
        **settings.connection_config(),
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": 5,
    }


def consumer_config(settings: KafkaSettings, group_suffix: str = "") -> dict[str, Any]:
    """Consumer in the configured group; Bytewax manages offsets itself (no auto commit)."""
    group = settings.consumer_group + (f".{group_suffix}" if group_suffix else "")
    return {
        **settings.connection_config(),
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }


def admin_config(settings: KafkaSettings) -> dict[str, Any]:
    return settings.connection_config()


def source_config(settings: KafkaSettings) -> dict[str, Any]:
    """Extra properties for a Bytewax Kafka source. Bytewax applies them to the admin client that lists the
    partitions (a producer-type instance) and to each partition's consumer, whose group and offset handling
    it sets itself (offsets live in its recovery snapshots): so connection properties only, and librdkafka
    has no consumer-only property to warn about."""
    return settings.connection_config()
