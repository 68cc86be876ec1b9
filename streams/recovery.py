"""Where a long-running flow resumes: its Bytewax recovery directory, checked against the broker first.

Flows resume from the Kafka offsets in their last snapshot (:func:`prepare_recovery`). Before a run the
directory is checked against the broker, because snapshots are only meaningful for the topics they were
taken on: when the broker is a different cluster (its cluster id changed; an embedded broker is a new
cluster on every start) or a snapshot resumes a partition beyond the end of its topic (the topics were
deleted and recreated, or emptied), the old state is cleared and the flow starts from the beginning of the
topics as they are now, saying so in one line. ``from_beginning=True`` clears it on purpose (a replay).
"""

from __future__ import annotations

import logging
import pickle
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bytewax.recovery import init_db_dir
from confluent_kafka import Consumer, KafkaException, TopicPartition

from connectors.kafka.admin import KafkaAdminError
from connectors.kafka.clients import consumer_config
from millstream.settings import KafkaSettings, Settings

__all__ = ["RecoveryStart", "default_recovery_dir", "prepare_recovery", "snapshot_offsets"]

logger = logging.getLogger(__name__)

_CLUSTER_FILE = "kafka-cluster-id"
_KAFKA_PART = re.compile(r"^(\d+)-(.+)$")
_LATEST_SNAPSHOTS = """
SELECT step_id, state_key, ser_change FROM snaps AS s
WHERE snap_epoch = (SELECT max(snap_epoch) FROM snaps WHERE step_id = s.step_id AND state_key = s.state_key)
"""


@dataclass(frozen=True)
class RecoveryStart:
    """How a flow starts: ``resumed`` from snapshots, or fresh; ``note`` is the one line to show the user."""

    directory: Path
    resumed: bool
    note: str


def default_recovery_dir(settings: Settings, flow: str) -> Path:
    """``<data_dir>/recovery/<topic prefix><flow>``: one directory per flow and topic set."""
    return settings.data_dir / "recovery" / f"{settings.kafka.topic_prefix}{flow}"


def snapshot_offsets(directory: Path) -> dict[tuple[str, int], int]:
    """The Kafka offsets the latest snapshots in ``directory`` resume from: ``{(topic, partition): offset}``."""
    offsets: dict[tuple[str, int], int] = {}
    for part in sorted(directory.glob("part-*.sqlite3")):
        with sqlite3.connect(f"file:{part}?mode=ro", uri=True) as conn:
            rows = conn.execute(_LATEST_SNAPSHOTS).fetchall()
        for step_id, state_key, change in rows:
            match = _KAFKA_PART.match(state_key)
            if not step_id.endswith(".kafka_input") or match is None or change is None:
                continue
            offset = pickle.loads(change)  # noqa: S301 - our own recovery store, written by this flow
            if isinstance(offset, int) and offset >= 0:
                key = (match[2], int(match[1]))
                offsets[key] = max(offset, offsets.get(key, 0))
    return offsets


def _broker_state(
    kafka: KafkaSettings, topics: set[str], timeout_s: float
) -> tuple[str | None, dict[str, dict[int, int]]]:
    """The cluster id and, for each of ``topics`` that exists, the high watermark of each partition."""
    consumer = Consumer({**consumer_config(kafka, "recovery-check"), "enable.partition.eof": False})
    try:
        try:
            metadata = consumer.list_topics(timeout=timeout_s)
        except KafkaException as exc:
            msg = f"cannot reach Kafka at {kafka.bootstrap_servers}: {exc.args[0].str() if exc.args else exc}"
            raise KafkaAdminError(msg) from None
        ends: dict[str, dict[int, int]] = {}
        for topic in topics:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None:
                continue
            ends[topic] = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)[1]
                           for p in info.partitions}
        return metadata.cluster_id, ends
    finally:
        consumer.close()


def _stale_reason(directory: Path, kafka: KafkaSettings, timeout_s: float) -> tuple[str | None, str | None]:
    """Why the snapshots in ``directory`` do not fit the broker (or ``None``), and the broker's cluster id."""
    offsets = snapshot_offsets(directory)
    cluster_id, ends = _broker_state(kafka, {topic for topic, _ in offsets}, timeout_s)
    cluster_file = directory / _CLUSTER_FILE
    stored = cluster_file.read_text().strip() if cluster_file.exists() else None
    if stored and cluster_id and stored != cluster_id:
        return f"the broker at {kafka.bootstrap_servers} is a new cluster (id {cluster_id}, was {stored})", cluster_id
    for (topic, partition), offset in sorted(offsets.items()):
        end = ends.get(topic, {}).get(partition)
        if end is None:
            return f"topic {topic} partition {partition} no longer exists", cluster_id
        if offset > end:
            return (f"{topic}[{partition}] ends at offset {end} but the snapshot resumes at {offset}: "
                    "the topics were recreated or emptied"), cluster_id
    return None, cluster_id


def prepare_recovery(
    directory: Path,
    *,
    workers: int,
    kafka: KafkaSettings,
    from_beginning: bool = False,
    timeout_s: float = 10.0,
) -> RecoveryStart:
    """Make ``directory`` ready for a run: cleared on request or when stale, initialised when new.

    Raises :class:`KafkaAdminError` when the broker cannot be reached.
    """
    existing = any(directory.glob("part-*.sqlite3"))
    note = ""
    cluster_id: str | None = None
    if existing and from_beginning:
        shutil.rmtree(directory)
        existing = False
        note = f"replaying from the beginning of the topics (recovery state in {directory} cleared)"
    elif existing:
        reason, cluster_id = _stale_reason(directory, kafka, timeout_s)
        if reason is not None:
            shutil.rmtree(directory)
            existing = False
            note = f"recovery state in {directory} does not fit the broker ({reason}); starting from the beginning"
            logger.warning(note)
    if existing:
        note = f"resuming from the recovery snapshots in {directory}"
    else:
        directory.mkdir(parents=True, exist_ok=True)
        init_db_dir(directory, workers)
        note = note or f"first run: reading the topics from the beginning (recovery state in {directory})"
    if cluster_id is None:
        cluster_id, _ = _broker_state(kafka, set(), timeout_s)
    if cluster_id:
        (directory / _CLUSTER_FILE).write_text(cluster_id + "\n")
    return RecoveryStart(directory, existing, note)
