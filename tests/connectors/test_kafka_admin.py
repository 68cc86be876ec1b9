"""Topic creation on the real broker: declared partitions and retention, idempotent."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, ConfigResource

from connectors.kafka.admin import KafkaAdminError, create_topics
from connectors.kafka.clients import admin_config
from connectors.kafka.topics import TOPICS, topic_by_name
from millstream.settings import KafkaSettings, Settings


def test_create_topics_is_idempotent(settings: Settings) -> None:
    first = create_topics(settings.kafka)
    second = create_topics(settings.kafka)
    assert [r.status for r in first] == ["created"] * len(TOPICS)
    assert [r.status for r in second] == ["exists"] * len(TOPICS)
    assert [r.name for r in second] == [settings.kafka.topic_prefix + t.name for t in TOPICS]
    admin = AdminClient(admin_config(settings.kafka))
    metadata = admin.list_topics(timeout=10)
    for topic in TOPICS:
        assert len(metadata.topics[topic.full_name(settings.kafka)].partitions) == topic.partitions
    dlq = topic_by_name("dlq")
    resource = ConfigResource(ConfigResource.Type.TOPIC, dlq.full_name(settings.kafka))
    config = admin.describe_configs([resource])[resource].result(timeout=10)
    assert config["retention.ms"].value == str(dlq.retention_ms)


def test_unreachable_broker_is_a_clear_error() -> None:
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    try:
        create_topics(kafka, timeout_s=2)
    except KafkaAdminError as exc:
        assert "127.0.0.1:1" in str(exc)
    else:
        raise AssertionError("expected KafkaAdminError")
