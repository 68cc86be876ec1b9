"""``millstream inventory``: part counters and RFID gate reads into the stock ledger, alerts, ERP and EPCIS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from bytewax.dataflow import Dataflow

from cli.common import console, settings
from cli.flows import (
    FlowOptions,
    Follow,
    FromBeginning,
    MetricsPort,
    RecoveryDir,
    SnapshotInterval,
    Workers,
    master_data,
    run_pipeline,
)
from connectors.postgres.database import connect
from millstream.settings import Settings
from streams.inventory import build_flow

ScenarioFile = Annotated[Path | None, typer.Option(
    "--scenario", help="Take the master data from this scenario file instead of the database.")]


def _summary(config: Settings) -> None:
    with connect(config.database) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM stock_movements) AS movements, "
            "(SELECT count(*) FROM gate_events) AS gate_events, "
            "(SELECT count(*) FROM stock_exceptions) AS exceptions, "
            "(SELECT count(*) FROM reorder_proposals WHERE closed_at IS NULL) AS open_proposals").fetchone()
    if row is None:
        return
    console.print(f"ledger: {row['movements']} movements, {row['gate_events']} gate passes, {row['exceptions']} "
                  f"stock exceptions, {row['open_proposals']} open reorder proposals", highlight=False)


def inventory(
    follow: Follow = True,
    workers: Workers = 1,
    recovery_dir: RecoveryDir = None,
    from_beginning: FromBeginning = False,
    snapshot_interval: SnapshotInterval = 10.0,
    metrics_port: MetricsPort = None,
    scenario: ScenarioFile = None,
) -> None:
    """Book stock from part counters (backflush, finished goods) and RFID gates (receipts, transfers, issues to
    shipments) into the ledger; reorder and negative-stock alerts, ERP records, EPCIS events.

    Master data comes from the database (`millstream masterdata load`), read once at start: changes to it need
    a restart of the flow. Movements are applied once each (stable
    ids), so what is re-read after a crash books nothing twice. Rejects go to dlq with the reason.
    """

    def build(config: Settings) -> Dataflow:
        master = master_data(config, scenario, "inventory")
        console.print(f"inventory: master data {master.name!r}: {len(master.materials)} materials, "
                      f"{len(master.locations)} locations, {len(master.stock_policies)} stock policies",
                      highlight=False)
        return build_flow(config, master, follow=follow)

    options = FlowOptions(follow, workers, recovery_dir, from_beginning, snapshot_interval, metrics_port)
    run_pipeline("inventory", build, options)
    _summary(settings())
