"""What ``millstream up`` does in-process between starting the infrastructure and the services.

Database created if missing, migrations, the run's clock (resumed from ``simulation_runs``), the scenario's
master data on the run's timeline, API keys, and the local ERP receiver registered as a webhook endpoint.
Every step is idempotent: a restart repeats them without adding anything twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from connectors.erp.models import WebhookEndpointCreate, WebhookEndpointUpdate
from connectors.erp.signing import generate_secret
from connectors.erp.subscriptions import create_endpoint, list_endpoints, update_endpoint
from connectors.postgres.apikeys import authenticate, create_api_key
from connectors.postgres.masterdata import load_scenario
from connectors.postgres.migrations import migrate
from millstream.masterdata import Scenario
from simulators.clock import run_scenario

__all__ = ["RunClockState", "create_database", "ensure_api_keys", "ensure_erp_endpoint", "erp_secret",
           "load_run_masterdata", "migrate", "replay_since", "resume_clock", "save_clock"]

ERP_ENDPOINT_DESCRIPTION = "millstream up: the local ERP receiver"
ROLES_CREATED = ("admin", "engineer", "dispatcher")


def create_database(url: str) -> None:
    """Create the database named in ``url`` when it does not exist (connecting to ``postgres``)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    name = str(info.get("dbname") or "millstream")
    admin_url = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@dataclass(frozen=True)
class RunClockState:
    """The run's timeline: ``origin`` (where simulation.start lies), the instant the clock starts at now
    (``resume_at``), and whether an earlier run on this database is continued."""

    origin: datetime
    resume_at: datetime
    resumed: bool


def resume_clock(conn: Any, scenario: Scenario, speed: float, seed: int) -> RunClockState:
    """The stored timeline of ``scenario`` continued, or a new one starting now."""
    row = conn.execute("SELECT origin, sim_time FROM simulation_runs WHERE scenario = %s",
                       (scenario.name,)).fetchone()
    if row is not None:
        conn.execute("UPDATE simulation_runs SET speed = %s, started_at = now() WHERE scenario = %s",
                     (speed, scenario.name))
        return RunClockState(row["origin"], row["sim_time"], resumed=True)
    now = datetime.now(UTC).replace(microsecond=0)
    conn.execute("INSERT INTO simulation_runs (scenario, origin, sim_time, speed, seed) VALUES (%s, %s, %s, %s, %s)",
                 (scenario.name, now, now, speed, seed))
    return RunClockState(now, now, resumed=False)


def save_clock(conn: Any, scenario: Scenario, sim_time: datetime) -> None:
    """Record how far the simulated clock got (never backwards)."""
    conn.execute("UPDATE simulation_runs SET sim_time = GREATEST(sim_time, %s), updated_at = now() "
                 "WHERE scenario = %s", (sim_time, scenario.name))


def load_run_masterdata(conn: Any, scenario: Scenario, origin: datetime) -> dict[str, int]:
    """The scenario's master data on the run's timeline (the same shift the simulators use)."""
    return load_scenario(conn, run_scenario(scenario, origin))


def ensure_api_keys(conn: Any, keys_file: Path, admin_key: str | None) -> dict[str, str]:
    """Role -> token: ``admin_key`` as the admin key, or the keys created by an earlier run (kept, mode 0600,
    in ``keys_file``) while they still authenticate, else new ones."""
    if admin_key is not None:
        return {"admin": create_api_key(conn, "admin", "millstream up --admin-key", token=admin_key).token}
    try:
        kept: dict[str, str] = json.loads(keys_file.read_text())
        if kept and all(authenticate(conn, token) is not None for token in kept.values()):
            return kept
    except (OSError, ValueError):
        pass
    tokens = {role: create_api_key(conn, role, f"millstream up ({role})").token for role in ROLES_CREATED}
    fd = os.open(keys_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(tokens, out)
    return tokens


def erp_secret(secret_file: Path) -> str:
    """The local ERP receiver's signing secret, made once and kept (mode 0600)."""
    if secret_file.exists():
        return secret_file.read_text().strip()
    secret = generate_secret()
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret)
    return secret


def ensure_erp_endpoint(conn: Any, url: str, secret: str) -> str:
    """Register (or point at ``url``) the local receiver's endpoint. A loopback target is allowed for this
    endpoint only, by ``up`` itself: the API keeps refusing private targets unless configured otherwise."""
    for endpoint in list_endpoints(conn, limit=1000):
        if endpoint.description == ERP_ENDPOINT_DESCRIPTION:
            update_endpoint(conn, endpoint.id, WebhookEndpointUpdate.model_validate(
                {"url": url, "secrets": [secret], "enabled": True}), allow_private_targets=True)
            return endpoint.id
    spec = WebhookEndpointCreate.model_validate({"url": url, "description": ERP_ENDPOINT_DESCRIPTION,
                                                 "secrets": [secret]})
    return create_endpoint(conn, spec, allow_private_targets=True).id


def replay_since(state: RunClockState, speed: float, wall_margin_s: float = 60.0) -> datetime:
    """Where fleet and gates play their timelines from: the run's start, or on a resumed run shortly before the
    clock stopped, so events that were published but not yet stored when the last run stopped are sent again
    (the sinks drop repeats by id). Events between this instant and a simulator's start are sent at once."""
    if not state.resumed:
        return state.resume_at
    return max(state.origin, state.resume_at - timedelta(seconds=wall_margin_s * speed))
