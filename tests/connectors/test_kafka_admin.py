"""Topic creation on the real broker: declared partitions and retention, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from connectors.kafka.admin import KafkaAdminError, create_topics
from connectors.kafka.clients import admin_config, producer_config
from connectors.kafka.producer import timestamp_ms
from connectors.kafka.topics import TOPICS, Topic, topic_by_name
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
    assert config["max.message.bytes"].value == str(1024 * 1024)
    assert config["message.timestamp.after.max.ms"].value == str(2**63 - 1)


def test_unreachable_broker_is_a_clear_error() -> None:
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1")
    try:
        create_topics(kafka, timeout_s=2)
    except KafkaAdminError as exc:
        assert "127.0.0.1:1" in str(exc)
    else:
        raise AssertionError("expected KafkaAdminError")


def _produce_at(settings: Settings, topic: str, at: datetime) -> str | None:
    """Produce one record stamped ``at``; the delivery error's name, or ``None`` when the broker took it."""
    outcome: list[str | None] = []
    producer = Producer(producer_config(settings.kafka))
    producer.produce(topic, b"{}", timestamp=timestamp_ms(at),
                     on_delivery=lambda err, _msg: outcome.append(err.name() if err else None))
    producer.flush(15)
    return outcome[0]


def test_raw_topics_accept_records_stamped_ahead_of_the_broker_clock(settings: Settings) -> None:
    """Kafka 4 refuses records more than an hour ahead by default; the simulated world's clock runs ahead at
    --speed > 1, so the declared topics lift that limit (and an existing topic gets it on create-topics)."""
    gps = topic_by_name("fleet.gps")
    plain = Topic("plain", 1, "id", timedelta(days=1))
    create_topics(settings.kafka, [plain])
    ahead = datetime.now(UTC) + timedelta(hours=5)
    assert _produce_at(settings, plain.full_name(settings.kafka), ahead) == "INVALID_TIMESTAMP"

    # An existing topic without the setting gets it when the topics are created again.
    admin = AdminClient(admin_config(settings.kafka))
    futures = admin.create_topics([NewTopic(gps.full_name(settings.kafka), num_partitions=1, replication_factor=1)])
    futures[gps.full_name(settings.kafka)].result(timeout=15)
    assert _produce_at(settings, gps.full_name(settings.kafka), ahead) == "INVALID_TIMESTAMP"
    assert create_topics(settings.kafka, [gps])[0].status == "exists"
    assert _produce_at(settings, gps.full_name(settings.kafka), ahead) is None
    assert _produce_at(settings, gps.full_name(settings.kafka), ahead + timedelta(days=3650)) is None
