"""``millstream logistics``: the logistics flow (fleet.gps -> geofences, shipment state, ETA, alerts, ERP)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from cli.common import console, fail, settings
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
from millstream.masterdata import Scenario
from millstream.settings import Settings
from simulators.clock import run_scenario
from streams.logistics import build_flow

ScenarioFile = typer.Option(None, "--scenario", help="Master data from this scenario file instead of the database.")
RebaseTo = typer.Option(None, "--rebase-to",
                        help="With --scenario: the run's origin; its times move so that simulation.start is this "
                             "instant (the same rule simulate uses).")


def _master_data(config: Settings, scenario: Path | None, rebase_to: datetime | None) -> Scenario:
    """The scenario file's master data (on the run's timeline with ``rebase_to``), or the database's; checks the
    logistics tables are there."""
    data = master_data(config, scenario, "logistics", "SELECT 1 FROM shipment_state LIMIT 1")
    if scenario is not None and rebase_to is not None:
        data = run_scenario(data, rebase_to)
    if not data.shipments:
        fail("master data has no shipments: nothing to track (load a scenario with shipments)")
    return data


def _summary(config: Settings) -> str:
    with connect(config.database) as conn:
        rows = conn.execute("SELECT status, count(*) AS n FROM shipment_state GROUP BY status ORDER BY status"
                            ).fetchall()
        row = conn.execute("SELECT count(*) AS n FROM alerts WHERE domain = 'logistics' AND state <> 'cleared'"
                           ).fetchone()
    alerts = row["n"] if row else 0
    statuses = ", ".join(f"{r['n']} {r['status']}" for r in rows) or "none tracked yet"
    return f"shipments: {statuses}; open logistics alerts: {alerts}"


def logistics(
    follow: Follow = True,
    workers: Workers = 1,
    recovery_dir: RecoveryDir = None,
    from_beginning: FromBeginning = False,
    snapshot_interval: SnapshotInterval = 10.0,
    metrics_port: MetricsPort = None,
    scenario: Path | None = ScenarioFile,
    rebase_to: datetime | None = RebaseTo,
) -> None:
    """Track trucks against sites and routes: milestones, ETA, delay/offline/deviation/dwell alerts, ERP records.

    Master data (trucks, sites with geofences, shipments with routes and promised windows) is read once at
    start. Every output is idempotent on stable ids: what is re-read after a crash adds nothing twice.
    """
    if rebase_to is not None and rebase_to.tzinfo is None:
        fail("--rebase-to needs a UTC offset (e.g. 2026-11-22T06:00:00+00:00)")
    config = settings()
    data = _master_data(config, scenario, rebase_to)
    console.print(f"logistics: {len(data.trucks)} trucks, {len(data.shipments)} shipments, "
                  f"{len(data.sites)} site fences", highlight=False)
    run_pipeline("logistics", lambda s: build_flow(s, data, follow=follow),
                 FlowOptions(follow, workers, recovery_dir, from_beginning, snapshot_interval, metrics_port))
    console.print(_summary(config), highlight=False)
