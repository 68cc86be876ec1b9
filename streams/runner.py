"""Run a dataflow in this process: worker threads, optional Bytewax recovery, one place for every command.

With ``recovery_dir`` (the default of every flow command, prepared by :mod:`streams.recovery`) Bytewax
snapshots the Kafka offsets and operator state every ``snapshot_interval`` and at the end of a ``--once``
run, and resumes from there; the directory is initialised with one partition per worker on first use. What
was processed after the last snapshot is processed again after a crash; the sinks' idempotency (stable ids)
keeps the effect exactly-once. Without a recovery directory a Kafka-fed flow re-reads its topics from the
start. ``metrics_port`` serves the process's
Prometheus metrics (:mod:`millstream.metrics`) on ``http://127.0.0.1:<port>/metrics`` while the flow runs.
"""

from __future__ import annotations

import logging
import signal
from datetime import timedelta
from pathlib import Path

from bytewax.dataflow import Dataflow
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.run import cli_main

from millstream.metrics import serve_metrics

__all__ = ["run_flow"]

logger = logging.getLogger(__name__)


def run_flow(
    flow: Dataflow,
    *,
    workers: int = 1,
    recovery_dir: Path | None = None,
    snapshot_interval: timedelta = timedelta(seconds=10),
    metrics_port: int | None = None,
) -> None:
    """Run ``flow`` until its sources end (or forever for tailing sources)."""
    serve_metrics(metrics_port)
    recovery = None
    if recovery_dir is not None:
        if not any(recovery_dir.glob("part-*.sqlite3")):
            recovery_dir.mkdir(parents=True, exist_ok=True)
            init_db_dir(recovery_dir, workers)
            logger.info("initialised recovery directory %s with %d partitions", recovery_dir, workers)
        recovery = RecoveryConfig(str(recovery_dir))
    # SIGTERM stops a flow like Ctrl-C: Bytewax ends the run between batches and the sinks close cleanly
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        cli_main(flow, workers_per_process=workers, epoch_interval=snapshot_interval, recovery_config=recovery)
    except KeyboardInterrupt:
        logger.info("flow %s interrupted", flow.flow_id)
    except Exception as exc:  # Bytewax wraps an interrupt in a runtime error raised from KeyboardInterrupt
        if not _interrupted(exc):
            raise
        logger.info("flow %s interrupted", flow.flow_id)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupted(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
