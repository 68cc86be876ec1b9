"""``millstream ingest``: raw Kafka topics into the time-series tables, rejects to ``dlq``."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import console, settings
from streams.ingest import build_flow
from streams.runner import run_flow


def ingest(
    follow: bool = typer.Option(True, "--follow/--once", help="Keep consuming, or drain the topics and stop."),
    workers: int = typer.Option(1, min=1, max=32, help="Bytewax worker threads in this process."),
    recovery_dir: Path | None = typer.Option(
        None, "--recovery-dir", help="Bytewax recovery directory: resume from snapshots instead of re-reading."),
) -> None:
    """Validate telemetry.readings, fleet.gps and warehouse.rfid into PostgreSQL; rejects go to dlq.

    Sinks are idempotent on the events' stable ids: re-reading a topic adds nothing twice.
    """
    flow = build_flow(settings(), follow=follow)
    mode = "following the topics" if follow else "until the end of each topic"
    console.print(f"ingesting, {mode}, {workers} worker(s)", highlight=False)
    run_flow(flow, workers=workers, recovery_dir=recovery_dir)
    console.print("ingest finished")
