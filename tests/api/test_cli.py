"""``millstream apikey`` and ``millstream api`` against the real database."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from cli.main import app
from connectors.postgres.apikeys import authenticate, parse_token
from millstream.settings import Settings, get_settings

runner = CliRunner()


@pytest.fixture
def _env(api_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MILLSTREAM_DATABASE__URL", api_settings.database.url.get_secret_value())
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("_env")
def test_create_list_revoke(db: psycopg.Connection) -> None:
    created = runner.invoke(app, ["apikey", "create", "--role", "dispatcher", "--name", "night desk"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    parsed = parse_token(token)
    assert parsed is not None
    key_id, secret = parsed
    assert authenticate(db, token) is not None
    db.commit()  # authenticate noted the key's use: release that row for the revoke below

    listed = runner.invoke(app, ["apikey", "list"])
    assert listed.exit_code == 0 and key_id in listed.output and "night desk" in listed.output
    assert secret not in listed.output

    assert runner.invoke(app, ["apikey", "revoke", key_id]).exit_code == 0
    assert authenticate(db, token) is None
    again = runner.invoke(app, ["apikey", "revoke", key_id])
    assert again.exit_code == 1 and "no live API key" in again.output
    assert key_id not in runner.invoke(app, ["apikey", "list"]).output
    assert key_id in runner.invoke(app, ["apikey", "list", "--all"]).output

    actions = db.execute("SELECT action, actor FROM audit_log WHERE resource = 'api_keys' AND resource_id = %s"
                         " ORDER BY id", (key_id,)).fetchall()
    assert [a["action"] for a in actions] == ["create", "revoke"]
    assert all(a["actor"].startswith("cli") for a in actions)


@pytest.mark.usefixtures("_env")  # the command connects before it checks the role
def test_unknown_role_is_refused() -> None:
    result = runner.invoke(app, ["apikey", "create", "--role", "root"])
    assert result.exit_code == 1 and "unknown role 'root'" in result.output


def test_openapi_document() -> None:
    result = runner.invoke(app, ["api", "openapi"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http", "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["ApiKey"]["description"]}
    assert "/api/v1/alerts/{alert_id}/ack" in document["paths"]
