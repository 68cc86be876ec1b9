"""``millstream replay gps FILE.csv --geofences F.geojson [--eta-to FENCE] [--json]``: try fences on history.

Runs the live flow's cleaning, geofence engine and ETA model (:mod:`millstream.logistics.replay`) over a historical CSV
and prints the geofence events (JSON lines with ``--json``), then with ``--eta-to`` one line per trip that arrives
and a summary with both mean absolute errors. Progress and rejected rows go to stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from cli.common import err_console, fail
from millstream.errors import DecodeError
from millstream.logistics.fences import read_geojson
from millstream.logistics.gpscsv import Fix, Rejected, read_fixes
from millstream.logistics.replay import replay

__all__ = ["app"]

app = typer.Typer(help="Replay historical data through the pipelines' logic.", no_args_is_help=True)

_MAX_REJECTS_SHOWN = 10


def _note(text: str) -> None:
    """A progress or summary line on stderr (stdout carries the results)."""
    err_console.print(text, highlight=False, soft_wrap=True)


@app.command("gps")
def replay_gps(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV of GPS fixes (columns auto-detected)."),
    geofences: Path = typer.Option(..., "--geofences", exists=True, dir_okay=False, help="GeoJSON fences."),
    eta_to: str | None = typer.Option(None, "--eta-to", help="Fence id: follow trips to it and score the ETA."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines on stdout instead of a table."),
    hysteresis_m: float = typer.Option(50.0, "--hysteresis-m", min=0.0, help="Exit band outside each fence."),
) -> None:
    """Geofence events (enter/exit/dwell) of a GPS history, and ETA accuracy at mid-trip with --eta-to."""
    try:
        fences = read_geojson(geofences)
        columns, rows = read_fixes(file)
    except DecodeError as exc:
        fail(exc.reason)
    _note(f"reading {file} (columns: {columns.describe()}); {len(fences)} fence(s)")
    fixes: list[Fix] = []
    rejected: list[Rejected] = []
    for row in rows:
        (fixes if isinstance(row, Fix) else rejected).append(row)  # type: ignore[arg-type]
        if len(fixes) % 100_000 == 0 and fixes:
            _note(f"  {len(fixes):,} fixes read")
    for r in rejected[:_MAX_REJECTS_SHOWN]:
        _note(f"  line {r.line}: rejected: {r.reason}")
    if len(rejected) > _MAX_REJECTS_SHOWN:
        _note(f"  ... and {len(rejected) - _MAX_REJECTS_SHOWN} more rejected rows")
    _note(f"{len(fixes):,} fixes, {len(rejected):,} rejected; replaying")

    def progress(done: int, total: int) -> None:
        _note(f"  {done:,}/{total:,} fixes")

    try:
        result = replay(fixes, fences, eta_to=eta_to, hysteresis_m=hysteresis_m, progress=progress)
    except DecodeError as exc:
        fail(exc.reason)
    out = sys.stdout
    for event in result.events:
        e = event.as_dict()
        if as_json:
            out.write(json.dumps({k: e[k] for k in ("vehicle", "fence", "event", "time")}) + "\n")
        else:
            out.write(f"{e['time']}  {e['vehicle']:>12}  {e['event']:<5}  {e['fence']}\n")
    summary = result.summary()
    if eta_to is not None:
        for trip in result.trips:
            t = trip.as_dict()
            if as_json:
                out.write(json.dumps(t) + "\n")
            else:
                out.write(f"trip {t['trip']} ({t['vehicle']}): arrived {t['arrived']}, ETA at mid-trip "
                          f"{t['eta_at_midtrip']}, naive {t['naive_eta_at_midtrip']}\n")
        if as_json:
            out.write(json.dumps(summary) + "\n")
        else:
            out.write(f"{summary['trips_compared']} trips: ETA MAE {summary['eta_mae_s']} s, naive MAE "
                      f"{summary['naive_mae_s']} s (route {summary['route']})\n")
    _note(f"done: {summary['events']} geofence events, {result.outliers} outlier fixes dropped"
                      + (f", {summary['trips_arrived']} trips arrived" if eta_to else ""))
