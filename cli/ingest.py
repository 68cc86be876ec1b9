"""``millstream ingest``: raw Kafka topics into the time-series tables, rejects to ``dlq``."""

from __future__ import annotations

from cli.flows import (
    FlowOptions,
    Follow,
    FromBeginning,
    MetricsPort,
    RecoveryDir,
    SnapshotInterval,
    Workers,
    run_pipeline,
)
from streams.ingest import build_flow


def ingest(
    follow: Follow = True,
    workers: Workers = 1,
    recovery_dir: RecoveryDir = None,
    from_beginning: FromBeginning = False,
    snapshot_interval: SnapshotInterval = 10.0,
    metrics_port: MetricsPort = None,
) -> None:
    """Validate telemetry.readings, fleet.gps, warehouse.rfid and telemetry.status into PostgreSQL; rejects go
    to dlq and dead_letters.

    Resumes where the last run stopped (recovery snapshots); running it again over the same topics adds
    nothing. Sinks are idempotent on the events' stable ids: what is re-read after a crash adds nothing twice.
    """
    run_pipeline("ingest", lambda config: build_flow(config, follow=follow),
                 FlowOptions(follow, workers, recovery_dir, from_beginning, snapshot_interval, metrics_port))
