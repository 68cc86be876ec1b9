"""What every long-running dataflow command shares: its options and how it is run.

A flow command (``ingest``, and each pipeline) declares the shared options with these ``Annotated`` aliases
and hands its flow to :func:`run_pipeline`::

    def maintenance(follow: Follow = True, workers: Workers = 1, recovery_dir: RecoveryDir = None,
                    from_beginning: FromBeginning = False, snapshot_interval: SnapshotInterval = 10.0,
                    metrics_port: MetricsPort = None) -> None:
        run_pipeline("maintenance", lambda s: build_flow(s, follow=follow),
                     FlowOptions(follow, workers, recovery_dir, from_beginning, snapshot_interval, metrics_port))

Recovery is on by default: the flow resumes from its last snapshot in ``<data_dir>/recovery/<flow>``
(:mod:`streams.recovery`); ``--from-beginning`` replays the topics on purpose. The command checks that Kafka
and PostgreSQL answer (exit 3 with one line otherwise), says what it connected to, shows a live status line
(in / out / dead-lettered, from :mod:`millstream.metrics`) and a summary at the end, and serves ``/metrics``
with ``--metrics-port``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import psycopg
import typer
from bytewax.dataflow import Dataflow

from cli.common import EXIT_UNAVAILABLE, console, fail, require, settings
from cli.status import flow_counts, live_status
from connectors.kafka.admin import KafkaAdminError
from connectors.postgres.database import DatabaseError, connect, database_address
from connectors.postgres.masterdata_reader import read_scenario as read_stored_scenario
from millstream.errors import MillstreamError
from millstream.masterdata import Scenario, read_scenario
from millstream.metrics import serve_metrics
from millstream.settings import Settings
from streams.recovery import default_recovery_dir, prepare_recovery
from streams.runner import run_flow

__all__ = [
    "FlowOptions",
    "Follow",
    "FromBeginning",
    "MetricsPort",
    "RecoveryDir",
    "SnapshotInterval",
    "Workers",
    "master_data",
    "run_pipeline",
]

Follow = Annotated[bool, typer.Option("--follow/--once", help="Keep consuming, or drain the topics and stop.")]
Workers = Annotated[int, typer.Option(min=1, max=32, help="Bytewax worker threads in this process.")]
RecoveryDir = Annotated[Path | None, typer.Option(
    "--recovery-dir", help="Recovery snapshots to resume from (default: <data dir>/recovery/<flow>).")]
FromBeginning = Annotated[bool, typer.Option(
    "--from-beginning", help="Clear the recovery state and replay the topics from their start.")]
SnapshotInterval = Annotated[float, typer.Option(
    "--snapshot-interval", min=0.1, help="Seconds between recovery snapshots (at most this much is re-read).")]
MetricsPort = Annotated[int | None, typer.Option(
    "--metrics-port", min=1, max=65535, help="Serve Prometheus metrics on http://127.0.0.1:PORT/metrics.")]


def master_data(config: Settings, path: Path | None, flow: str, ready_check: str = "SELECT 1") -> Scenario:
    """The master data a flow runs on: the scenario file at ``path``, or else the database's. Read once, at
    start: a flow sees master-data changes only when restarted. ``ready_check`` (SQL) checks that the flow's
    tables are there; any problem is one clear line (exit 3 when PostgreSQL is unreachable)."""
    try:
        with connect(config.database) as conn:
            conn.execute(ready_check)
            data = read_stored_scenario(conn) if path is None else None
    except DatabaseError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except psycopg.Error as exc:
        fail(f"the database is not ready for {flow} (run `millstream db migrate`): {exc}", EXIT_UNAVAILABLE)
    except MillstreamError as exc:
        fail(f"master data in the database: {exc} (load it with `millstream masterdata load`)")
    if path is not None:
        try:
            data = read_scenario(path)
        except MillstreamError as exc:
            fail(str(exc))
    assert data is not None
    return data


@dataclass(frozen=True)
class FlowOptions:
    """The shared options of a flow command, as given."""

    follow: bool = True
    workers: int = 1
    recovery_dir: Path | None = None
    from_beginning: bool = False
    snapshot_interval_s: float = 10.0
    metrics_port: int | None = None


def run_pipeline(name: str, build: Callable[[Settings], Dataflow], options: FlowOptions) -> None:
    """Check the services, prepare the recovery directory (resume, or start cleanly), then run the flow in this
    process with a live status line."""
    config = settings()
    require(config, kafka=True, database=True)
    directory = options.recovery_dir or default_recovery_dir(config, name)
    try:
        start = prepare_recovery(directory, workers=options.workers, kafka=config.kafka,
                                 from_beginning=options.from_beginning)
    except KafkaAdminError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    mode = "following the topics" if options.follow else "until the end of each topic"
    metrics = f"; metrics on http://127.0.0.1:{options.metrics_port}/metrics" if options.metrics_port else ""
    console.print(f"{name}: Kafka {config.kafka.bootstrap_servers} -> PostgreSQL "
                  f"{database_address(config.database.url.get_secret_value())}; {mode}, {options.workers} worker(s)"
                  f"{metrics}; {start.note}", highlight=False, soft_wrap=True)
    serve_metrics(options.metrics_port)  # before building: a flow may prepare for a while (e.g. train a model)
    with live_status(lambda: f"{name} | {flow_counts()}", summary=f"{name} finished"):
        run_flow(build(config), workers=options.workers, recovery_dir=start.directory,
                 snapshot_interval=timedelta(seconds=options.snapshot_interval_s))
