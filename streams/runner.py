"""Run a dataflow in this process: worker threads, optional Bytewax recovery, one place for every command.

With ``recovery_dir`` (the default of every flow command, prepared by :mod:`streams.recovery`) Bytewax
snapshots the Kafka offsets and operator state every ``snapshot_interval`` and at the end of a ``--once``
run, and resumes from there; the directory is initialised with one partition per worker on first use. What
was processed after the last snapshot is processed again after a crash; the sinks' idempotency (stable ids)
keeps the effect exactly-once. Without a recovery directory a Kafka-fed flow re-reads its topics from the
start.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main

__all__ = ["run_flow"]

logger = logging.getLogger(__name__)


def run_flow(
    flow: Dataflow,
    *,
    workers: int = 1,
    recovery_dir: Path | None = None,
    snapshot_interval: timedelta = timedelta(seconds=10),
) -> None:
    """Run ``flow`` until its sources end (or forever for tailing sources)."""
    recovery = None
    if recovery_dir is not None:
        if not any(recovery_dir.glob("part-*.sqlite3")):
            recovery_dir.mkdir(parents=True, exist_ok=True)
            init_db_dir(recovery_dir, workers)
            logger.info("initialised recovery directory %s with %d partitions", recovery_dir, workers)
        recovery = RecoveryConfig(str(recovery_dir))
    cli_main(flow, workers_per_process=workers, epoch_interval=snapshot_interval, recovery_config=recovery)
