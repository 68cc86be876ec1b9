"""``millstream inventory``: part counters and RFID gate reads into the stock ledger, alerts, ERP and EPCIS."""

from __future__ import annotations

from pathlib import Path

import psycopg
import typer
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from cli.common import EXIT_UNAVAILABLE, console, fail, settings
from connectors.kafka.clients import admin_config
from connectors.postgres.database import DatabaseError, connect
from millstream.errors import ScenarioError
from millstream.masterdata import read_scenario
from millstream.settings import Settings
from streams.inventory import build_flow
from streams.runner import run_flow

DEFAULT_SCENARIO = Path("scenarios/demo.yaml")


def _check_services(config: Settings) -> None:
    try:
        with connect(config.database) as conn:
            conn.execute("SELECT 1 FROM stock_movements LIMIT 1")
    except DatabaseError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except psycopg.Error as exc:
        fail(f"the database is not ready for inventory (run `millstream db migrate`): {exc}", EXIT_UNAVAILABLE)
    try:
        AdminClient(admin_config(config.kafka)).list_topics(timeout=5)
    except KafkaException as exc:
        fail(f"cannot reach Kafka at {config.kafka.bootstrap_servers}: {exc.args[0].str()}", EXIT_UNAVAILABLE)


def _summary(config: Settings) -> str:
    with connect(config.database) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM stock_movements) AS movements, "
            "(SELECT count(*) FROM stock_exceptions) AS exceptions, "
            "(SELECT count(*) FROM gate_events) AS gate_events, "
            "(SELECT count(*) FROM reorder_proposals WHERE closed_at IS NULL) AS open_proposals").fetchone()
    return (f"ledger: {row['movements']} movements, {row['gate_events']} gate passes, {row['exceptions']} stock "
            f"exceptions, {row['open_proposals']} open reorder proposals")


def inventory(
    follow: bool = typer.Option(True, "--follow/--once", help="Keep consuming, or drain the topics and stop."),
    workers: int = typer.Option(1, min=1, max=32, help="Bytewax worker threads in this process."),
    recovery_dir: Path | None = typer.Option(
        None, "--recovery-dir", help="Bytewax recovery directory: resume from snapshots instead of re-reading."),
    scenario: Path = typer.Option(DEFAULT_SCENARIO, "--scenario", help="Master data (YAML/JSON scenario file)."),
) -> None:
    """Book stock from part counters (backflush) and RFID gates (receipts, transfers, issues) into the ledger.

    Movements are applied once each (stable ids); reorder and negative-stock alerts, ERP records through the
    outbox, EPCIS events for the gate passes. Rejects go to dlq with the reason.
    """
    config = settings()
    try:
        master = read_scenario(scenario)
    except ScenarioError as exc:
        fail(str(exc))
    _check_services(config)
    flow = build_flow(config, master, follow=follow)
    mode = "following the topics" if follow else "until the end of each topic"
    console.print(f"inventory: {len(master.materials)} materials, {len(master.locations)} locations from "
                  f"{scenario}; {mode}, {workers} worker(s)", highlight=False)
    run_flow(flow, workers=workers, recovery_dir=recovery_dir)
    console.print(f"inventory finished; {_summary(config)}", highlight=False)
