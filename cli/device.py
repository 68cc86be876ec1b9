"""``millstream device``: register, list and revoke GPS tracker devices (the key is shown once)."""

from __future__ import annotations

from typing import Any

import psycopg
import typer
from rich.table import Table

from cli.common import EXIT_UNAVAILABLE, console, err_console, fail, settings
from connectors.postgres.audit import cli_actor, record_change
from connectors.postgres.database import DatabaseError, connect
from connectors.postgres.devices import DeviceError, create_device, list_devices, revoke_device

app = typer.Typer(help="GPS tracker devices reporting to /osmand (one key per device).", no_args_is_help=True)


def _connect() -> psycopg.Connection[dict[str, Any]]:
    try:
        return connect(settings().database)
    except DatabaseError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)


@app.command("add")
def add_command(
    truck: str = typer.Argument(..., help="The truck (master data id) the device reports for."),
    device_id: str = typer.Option(None, "--device-id", help="The id the tracker sends (default: the truck id)."),
) -> None:
    """Register a device and print its key once: enter it in the tracker now."""
    with _connect() as conn:
        try:
            with conn.transaction():
                device, key = create_device(conn, device_id or truck, truck)
                record_change(conn, actor=cli_actor(), action="create", resource="devices",
                              resource_id=device.device_id, details={"truck_id": truck})
        except DeviceError as exc:
            fail(str(exc))
        except psycopg.Error as exc:
            fail(f"the database refused it: {exc.diag.message_primary or type(exc).__name__}", EXIT_UNAVAILABLE)
    err_console.print(f"registered device {device.device_id} for truck {truck}; its key (shown only this once) "
                      "goes in the tracker as `Authorization: Bearer <key>`, `key=<key>` or id `<device>~<key>`:",
                      highlight=False)
    typer.echo(key)


@app.command("list")
def list_command(all_devices: bool = typer.Option(False, "--all", help="Include revoked devices.")) -> None:
    """List devices (never their keys)."""
    with _connect() as conn:
        devices = list_devices(conn, include_revoked=all_devices)
    table = Table("device", "truck", "created", "last used", "revoked")
    for d in devices:
        table.add_row(d.device_id, d.truck_id, f"{d.created_at:%Y-%m-%d %H:%M}",
                      f"{d.last_used_at:%Y-%m-%d %H:%M}" if d.last_used_at else "-",
                      f"{d.revoked_at:%Y-%m-%d %H:%M}" if d.revoked_at else "-")
    console.print(table)


@app.command("revoke")
def revoke_command(device_id: str = typer.Argument(..., help="The device id.")) -> None:
    """Revoke a device's key: its requests are refused from now on."""
    with _connect() as conn, conn.transaction():
        if not revoke_device(conn, device_id):
            fail(f"no live device {device_id!r}")
        record_change(conn, actor=cli_actor(), action="revoke", resource="devices", resource_id=device_id)
    console.print(f"revoked device {device_id}")
