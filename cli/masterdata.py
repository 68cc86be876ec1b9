"""``millstream masterdata``: validate and load ERP master data from a scenario file."""

from __future__ import annotations

from pathlib import Path

import psycopg
import typer
from rich.progress import BarColumn, Progress, TextColumn

from cli.common import EXIT_UNAVAILABLE, console, fail, settings
from connectors.postgres.database import DatabaseError, connect
from connectors.postgres.masterdata import MASTERDATA_TABLES, load_scenario
from millstream.errors import ScenarioError
from millstream.masterdata import Scenario, read_scenario
from simulators.config import SimulationError, simulation_config

app = typer.Typer(help="ERP master data.", no_args_is_help=True)


def _read(path: Path) -> Scenario:
    """The whole scenario file, its ``simulation:`` parameters included, or exit naming file and field."""
    try:
        scenario = read_scenario(path)
        simulation_config(scenario)
    except ScenarioError as exc:
        fail(str(exc))
    except SimulationError as exc:
        fail(f"{path}: {exc}")
    return scenario


@app.command("validate")
def validate_command(file: Path = typer.Argument(..., help="Scenario file (.yaml, .yml or .json).")) -> None:
    """Check a scenario file without touching the database."""
    scenario = _read(file)
    console.print(f"{file}: valid scenario {scenario.name!r} ({len(scenario.machines)} machines, "
                  f"{len(scenario.materials)} materials, {len(scenario.sites)} sites, {len(scenario.trucks)} trucks; "
                  "simulation parameters valid)")


@app.command("load")
def load_command(file: Path = typer.Argument(..., help="Scenario file (.yaml, .yml or .json).")) -> None:
    """Load a scenario into the master-data tables in one transaction (all or nothing; re-loading upserts)."""
    scenario = _read(file)
    db = settings().database
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  console=console, transient=True) as progress:
        task = progress.add_task(f"loading {scenario.name}", total=len(MASTERDATA_TABLES))
        try:
            with connect(db) as conn:
                counts = load_scenario(conn, scenario, lambda table, rows: progress.advance(task))
        except DatabaseError as exc:
            fail(str(exc), EXIT_UNAVAILABLE)
        except psycopg.Error as exc:
            detail = exc.diag.message_primary or str(exc)
            hint = " (run `millstream db migrate` first)" if isinstance(exc, psycopg.errors.UndefinedTable) else ""
            fail(f"{file}: nothing loaded, the database refused it: {detail}{hint}")
    summary = ", ".join(f"{table}={rows}" for table, rows in counts.items())
    console.print(f"loaded {scenario.name!r} from {file}: {summary}")
