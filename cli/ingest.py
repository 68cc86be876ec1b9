"""``millstream ingest``: raw Kafka topics into the time-series tables, rejects to ``dlq``."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import console, require, settings
from cli.status import flow_counts, live_status
from connectors.kafka.topics import FLEET_GPS, TELEMETRY_READINGS, WAREHOUSE_RFID
from connectors.postgres.database import redacted_url
from streams.ingest import build_flow
from streams.runner import run_flow

MetricsPortOption = typer.Option(None, "--metrics-port", help="Serve Prometheus metrics on this port (/metrics).")


def ingest(
    follow: bool = typer.Option(True, "--follow/--once", help="Keep consuming, or drain the topics and stop."),
    workers: int = typer.Option(1, min=1, max=32, help="Bytewax worker threads in this process."),
    recovery_dir: Path | None = typer.Option(
        None, "--recovery-dir", help="Bytewax recovery directory: resume from snapshots instead of re-reading."),
    metrics_port: int | None = MetricsPortOption,
) -> None:
    """Validate telemetry.readings, fleet.gps and warehouse.rfid into PostgreSQL; rejects go to dlq.

    Sinks are idempotent on the events' stable ids: re-reading a topic adds nothing twice.
    """
    config = settings()
    require(config, kafka=True, database=True)
    flow = build_flow(config, follow=follow)
    mode = "following the topics" if follow else "until the end of each topic"
    topics = ", ".join(t.full_name(config.kafka) for t in (TELEMETRY_READINGS, FLEET_GPS, WAREHOUSE_RFID))
    console.print(f"ingest: Kafka {config.kafka.bootstrap_servers} ({topics}) -> PostgreSQL "
                  f"{redacted_url(config.database.url.get_secret_value())}; {mode}, {workers} worker(s)"
                  + (f"; metrics on http://127.0.0.1:{metrics_port}/metrics" if metrics_port else ""),
                  highlight=False, soft_wrap=True)
    with live_status(lambda: f"ingest | {flow_counts()}", summary="ingest finished"):
        try:
            run_flow(flow, workers=workers, recovery_dir=recovery_dir, metrics_port=metrics_port)
        except KeyboardInterrupt:
            pass
