"""``millstream scorecard [--json]``: the pipelines' decisions against the simulators' ground truth.

Reads the facts ``millstream up`` stores in ``ground_truth`` and the pipelines' tables, computes the scorecard
in event time (:mod:`millstream.scorecard`) and prints it as a table (figure, value, samples) or as JSON.
PostgreSQL unreachable: exit 3 with one line naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import typer
from rich.table import Table

from cli.common import EXIT_UNAVAILABLE, console, fail, settings
from connectors.postgres.database import DatabaseError, connect
from connectors.postgres.scorecard import scorecard

__all__ = ["scorecard_command"]


def _is_figure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"value", "n"}


def rows(card: dict[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """(section, figure, value, samples) for every figure and count of the card (lists are left to --json)."""
    def walk(section: str, prefix: str, node: dict[str, Any]) -> Iterator[tuple[str, str, str, str]]:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if _is_figure(value):
                shown = "—" if value["value"] is None else f"{value['value']:g}"
                yield section, name, shown, str(value["n"])
            elif isinstance(value, dict):
                yield from walk(section, f"{name}.", value)
            elif isinstance(value, int | float):
                yield section, name, f"{value:g}", ""
            elif value is None:
                yield section, name, "—", ""

    for section in ("maintenance", "inventory", "logistics"):
        yield from walk(section, "", card[section])


def scorecard_command(as_json: bool = typer.Option(False, "--json", help="Print the scorecard as JSON.")) -> None:
    """The ground-truth scorecard: maintenance, inventory and logistics decisions vs what really happened."""
    try:
        config = settings()
        with connect(config.database) as conn:
            card = scorecard(conn, config.inventory, logistics=config.logistics)
    except DatabaseError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    except psycopg.errors.UndefinedTable as exc:
        fail(f"the database has no {exc.diag.message_primary or 'table'} (run `millstream db migrate` first)",
             EXIT_UNAVAILABLE)
    if as_json:
        typer.echo(json.dumps(card, indent=1))
        return
    table = Table(title=f"Scorecard as of {card['as_of']} ({card['facts']} facts)")
    for header in ("section", "figure", "value", "n"):
        table.add_column(header, no_wrap=header != "figure", justify="right" if header in ("value", "n") else "left")
    for row in rows(card):
        table.add_row(*row)
    console.print(table, highlight=False)
    console.print("— : no data. Details, reliability and per-order figures: --json", highlight=False)
