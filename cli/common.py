"""What every command shares: settings loaded once with a clear failure, console output, exit codes."""

from __future__ import annotations

import json
import logging
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table

from millstream.errors import SettingsError
from millstream.settings import Settings, get_settings

__all__ = ["EXIT_INPUT", "EXIT_SETTINGS", "EXIT_UNAVAILABLE", "JsonOption", "console", "err_console", "fail",
           "print_rows", "require", "settings"]

console = Console()
err_console = Console(stderr=True)

EXIT_INPUT = 1  # the user's input (file, argument) is wrong
EXIT_SETTINGS = 2  # a setting is wrong
EXIT_UNAVAILABLE = 3  # a service (Kafka, PostgreSQL, OPC-UA server) could not be reached


def fail(message: str, code: int = EXIT_INPUT) -> NoReturn:
    """Print ``error: message`` to stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


JsonOption = typer.Option(False, "--json", help="Print JSON (one object per row) instead of a table.")


def print_rows(headers: list[str], rows: list[list[str]], *, as_json: bool = False, ids: int = 1) -> None:
    """A table whose first ``ids`` columns are never cut (they are copied into other commands), or JSON."""
    if as_json:
        typer.echo(json.dumps([dict(zip(headers, row, strict=True)) for row in rows], indent=1))
        return
    table = Table()
    for index, header in enumerate(headers):
        if index < ids:
            width = max([len(header), *(len(row[index]) for row in rows)])
            table.add_column(header, no_wrap=True, min_width=width)
        else:
            table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console.print(table, highlight=False)


def settings() -> Settings:
    """The process's settings; exits with the offending variable named when one is wrong."""
    try:
        return get_settings()
    except SettingsError as exc:
        fail(str(exc), EXIT_SETTINGS)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def require(config: Settings, *, kafka: bool = False, database: bool = False) -> None:
    """Exit 3 with one line naming the service and its address unless each needed service answers (~10 s)."""
    if database:
        from connectors.postgres.database import DatabaseError, connect

        try:
            with connect(config.database) as conn:
                conn.execute("SELECT 1")
        except DatabaseError as exc:
            fail(str(exc), EXIT_UNAVAILABLE)
    if kafka:
        from connectors.kafka.admin import KafkaAdminError, probe

        try:
            probe(config.kafka)
        except KafkaAdminError as exc:
            fail(str(exc), EXIT_UNAVAILABLE)
