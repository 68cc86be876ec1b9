"""Create the declared topics, idempotently (``millstream kafka create-topics``).

Existing topics keep their data; their declared topic-level configuration (e.g. the accepted range of
record timestamps) is set on them again, so a topic created by an older version gets it too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

from connectors.kafka.clients import admin_config, consumer_config
from connectors.kafka.topics import TOPICS, Topic
from millstream.settings import KafkaSettings

__all__ = ["KafkaAdminError", "TopicResult", "create_topics", "partitions_with_data", "probe"]

logger = logging.getLogger(__name__)


class KafkaAdminError(Exception):
    """The broker could not be reached or refused a topic; the message names the broker and topic."""


@dataclass(frozen=True)
class TopicResult:
    name: str
    status: Literal["created", "exists"]
    partitions: int
    note: str = ""


def probe(settings: KafkaSettings, timeout_s: float = 8.0) -> None:
    """Raise :class:`KafkaAdminError` (one line naming the broker) unless it answers within ``timeout_s``.
    librdkafka's own connection-refused log lines are silenced for this probe: the error says it once."""
    admin = AdminClient({**admin_config(settings), "log_level": 0})
    try:
        admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        reason = exc.args[0].str() if exc.args and isinstance(exc.args[0], KafkaError) else str(exc)
        msg = f"cannot reach Kafka at {settings.bootstrap_servers} within {timeout_s:.0f} s: {reason}"
        raise KafkaAdminError(msg) from None


def create_topics(
    settings: KafkaSettings, topics: Iterable[Topic] = TOPICS, timeout_s: float = 30.0, *,
    align_existing: bool = True,
) -> list[TopicResult]:
    """Create each topic that does not exist; report existing ones (and partition-count drift). With
    ``align_existing=False`` existing topics' configuration is left as it is (producers that only need the
    topic to exist; brokers without AlterConfigs, such as the embedded one)."""
    admin = AdminClient(admin_config(settings))
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        msg = f"cannot reach Kafka at {settings.bootstrap_servers}: {exc.args[0].str() if exc.args else exc}"
        raise KafkaAdminError(msg) from None
    topics = list(topics)
    results: dict[str, TopicResult] = {}
    missing = []
    for topic in topics:
        name = topic.full_name(settings)
        existing = metadata.topics.get(name)
        if existing is not None and existing.error is None:
            count = len(existing.partitions)
            note = "" if count == topic.partitions else f"has {count} partitions, declared {topic.partitions}"
            results[name] = TopicResult(name, "exists", count, note)
        else:
            missing.append(topic)
    if missing:
        futures = admin.create_topics(
            [NewTopic(t.full_name(settings), num_partitions=t.partitions,
                      replication_factor=settings.replication_factor,
                      config=t.broker_config())
             for t in missing],
            operation_timeout=timeout_s, request_timeout=timeout_s,
        )
        for topic in missing:
            name = topic.full_name(settings)
            try:
                futures[name].result(timeout=timeout_s)
                results[name] = TopicResult(name, "created", topic.partitions)
                logger.info("created topic %s (%d partitions)", name, topic.partitions)
            except KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    results[name] = TopicResult(name, "exists", topic.partitions)
                else:
                    reason = error.str() if isinstance(error, KafkaError) else str(exc)
                    msg = f"cannot create topic {name} on {settings.bootstrap_servers}: {reason}"
                    raise KafkaAdminError(msg) from None
    to_align = [t for t in topics if t not in missing and t.config]
    if to_align and align_existing:
        _align_configs(admin, settings, to_align, timeout_s)
    return [results[t.full_name(settings)] for t in topics]


def _align_configs(admin: AdminClient, settings: KafkaSettings, topics: list[Topic], timeout_s: float) -> None:
    """Set the declared topic-level configuration on existing topics (a broker that refuses is logged)."""
    resources = [ConfigResource(ResourceType.TOPIC, t.full_name(settings), incremental_configs=[
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in t.config.items()])
        for t in topics]
    try:
        futures = admin.incremental_alter_configs(resources, request_timeout=timeout_s)
    except (KafkaException, NotImplementedError, ValueError) as exc:
        logger.warning("cannot update topic configuration on %s: %s", settings.bootstrap_servers, exc)
        return
    for resource, future in futures.items():
        try:
            future.result(timeout=timeout_s)
        except TimeoutError:
            logger.warning("cannot update the configuration of topic %s: no answer within %.0f s", resource.name,
                           timeout_s)
        except KafkaException as exc:
            error = exc.args[0] if exc.args else exc
            logger.warning("cannot update the configuration of topic %s: %s", resource.name,
                           error.str() if isinstance(error, KafkaError) else error)


def partitions_with_data(settings: KafkaSettings, topic: Topic) -> tuple[int, ...]:
    """The partitions of ``topic`` that hold records now (a flow's watermark waits for them until heard from,
    :mod:`millstream.watermark`); all declared partitions when the broker cannot say."""
    name = topic.full_name(settings)
    consumer = Consumer({**consumer_config(settings, "partitions-probe"), "enable.partition.eof": False})
    try:
        info = consumer.list_topics(name, timeout=10.0).topics.get(name)
        if info is None or info.error is not None:
            return tuple(range(topic.partitions))
        ends = {p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10.0) for p in info.partitions}
        return tuple(sorted(p for p, (low, high) in ends.items() if high > low))
    except KafkaException:
        return tuple(range(topic.partitions))
    finally:
        consumer.close()
