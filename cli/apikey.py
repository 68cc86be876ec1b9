"""``millstream apikey``: create, list and revoke API keys (the token is shown once, only its hash is kept)."""

from __future__ import annotations

from typing import Any

import psycopg
import typer

from cli.common import EXIT_UNAVAILABLE, JsonOption, console, err_console, fail, print_rows, settings
from connectors.postgres.apikeys import ROLES, ApiKeyError, create_api_key, list_api_keys, revoke_api_key
from connectors.postgres.audit import cli_actor, record_change
from connectors.postgres.database import DatabaseError, connect

app = typer.Typer(help="API keys (roles: " + ", ".join(ROLES) + ").", no_args_is_help=True)



def _connect() -> psycopg.Connection[dict[str, Any]]:
    try:
        return connect(settings().database)
    except DatabaseError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)


def _refused(exc: psycopg.Error) -> None:
    hint = " (run `millstream db migrate` first)" if isinstance(exc, psycopg.errors.UndefinedTable) else ""
    fail(f"the database refused it: {exc.diag.message_primary or type(exc).__name__}{hint}", EXIT_UNAVAILABLE)


@app.command("create")
def create_command(
    role: str = typer.Option(..., "--role", help="engineer, dispatcher, erp or admin."),
    name: str = typer.Option(None, "--name", help="What the key is for (default: '<role> key')."),
) -> None:
    """Create a key and print its token once: store it now, it cannot be shown again."""
    with _connect() as conn:
        try:
            with conn.transaction():
                issued = create_api_key(conn, role, name or f"{role} key")
                record_change(conn, actor=cli_actor(), action="create", resource="api_keys",
                              resource_id=issued.key.key_id, details={"role": role, "name": issued.key.name})
        except ApiKeyError as exc:
            fail(str(exc))
        except psycopg.Error as exc:
            _refused(exc)
    err_console.print(f"created API key {issued.key.key_id} ({issued.key.name!r}, role {role}); "
                      "the token below is shown only this once:", highlight=False)
    typer.echo(issued.token)


@app.command("list")
def list_command(all_keys: bool = typer.Option(False, "--all", help="Include revoked keys."),
                 as_json: bool = JsonOption) -> None:
    """List keys (never their secrets)."""
    with _connect() as conn:
        try:
            keys = list_api_keys(conn, include_revoked=all_keys)
        except psycopg.Error as exc:
            _refused(exc)
    print_rows(["key id", "name", "role", "created", "last used", "revoked"],
               [[key.key_id, key.name, key.role, f"{key.created_at:%Y-%m-%d %H:%M}",
                 f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "-",
                 f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else ""] for key in keys], as_json=as_json)


@app.command("revoke")
def revoke_command(key_id: str = typer.Argument(..., help="The key id (the part after mst_ in the token).")) -> None:
    """Revoke a key; requests with it are refused from now on."""
    with _connect() as conn:
        try:
            with conn.transaction():
                revoked = revoke_api_key(conn, key_id)
                if revoked:
                    record_change(conn, actor=cli_actor(), action="revoke", resource="api_keys", resource_id=key_id)
        except psycopg.Error as exc:
            _refused(exc)
    if not revoked:
        fail(f"no live API key with id {key_id!r}")
    console.print(f"revoked API key {key_id}")
