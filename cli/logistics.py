"""``millstream logistics``: the logistics flow (fleet.gps -> geofences, shipment state, ETA, alerts, ERP)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from cli.common import EXIT_UNAVAILABLE, console, fail, settings
from connectors.postgres.database import DatabaseError, connect
from millstream.errors import MillstreamError
from millstream.masterdata import Scenario, read_scenario
from streams.logistics import build_flow
from streams.runner import run_flow


def _master_data(scenario: Path | None, rebase_to: datetime | None) -> Scenario:
    if scenario is not None:
        try:
            data = read_scenario(scenario)
        except MillstreamError as exc:
            fail(str(exc))
        return data.rebased(rebase_to) if rebase_to else data
    try:
        from connectors.postgres.masterdata_reader import read_scenario as read_from_db  # type: ignore[import-not-found]
    except ImportError:
        fail("this build cannot read master data from the database yet: pass --scenario FILE")
    try:
        with connect(settings().database) as conn:
            return read_from_db(conn)  # type: ignore[no-any-return]
    except DatabaseError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)


def logistics(
    follow: bool = typer.Option(True, "--follow/--once", help="Keep consuming, or drain fleet.gps and stop."),
    workers: int = typer.Option(1, min=1, max=32, help="Bytewax worker threads in this process."),
    recovery_dir: Path | None = typer.Option(
        None, "--recovery-dir", help="Bytewax recovery directory: resume from snapshots instead of re-reading."),
    scenario: Path | None = typer.Option(
        None, "--scenario", help="Master data from this scenario file instead of the database."),
    rebase_to: datetime | None = typer.Option(
        None, "--rebase-to", help="With --scenario: shift its times so its epoch is this instant (as simulate does)."),
) -> None:
    """Track trucks against sites and routes: milestones, ETA, delay/offline/deviation/dwell alerts, ERP records.

    Every output is idempotent on stable ids: re-reading fleet.gps (after a crash) adds nothing twice.
    """
    if rebase_to is not None and rebase_to.tzinfo is None:
        fail("--rebase-to needs a UTC offset (e.g. 2026-11-22T06:00:00+00:00)")
    data = _master_data(scenario, rebase_to)
    flow = build_flow(settings(), data, follow=follow)
    mode = "following fleet.gps" if follow else "until the end of fleet.gps"
    console.print(f"logistics: {len(data.trucks)} trucks, {len(data.shipments)} shipments, {mode}, "
                  f"{workers} worker(s)", highlight=False)
    run_flow(flow, workers=workers, recovery_dir=recovery_dir)
    console.print("logistics finished")
