"""``millstream up``: the whole system with one command, on an embedded broker and database by default.

Without ``MILLSTREAM_KAFKA__*`` it starts an embedded broker, without ``MILLSTREAM_DATABASE__URL`` an embedded
PostgreSQL (data under ``--data-dir``, kept across runs); then migrations, the run's clock, master data, API
keys and the ERP receiver's webhook endpoint (:mod:`cli.up.prepare`), then every service of
:mod:`cli.up.services` under a :class:`~cli.up.supervisor.Supervisor`, and prints where the UI is. Ctrl-C or
SIGTERM stops every process it started. See docs/running.md.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import time
from importlib.util import find_spec
from pathlib import Path
from types import FrameType
from typing import NoReturn

import psycopg
import typer
from pydantic import SecretStr

from cli.common import EXIT_INPUT, EXIT_UNAVAILABLE, console, fail, settings
from cli.status import live_status
from cli.up import prepare
from cli.up.services import SERVICES, RunContext
from cli.up.supervisor import Supervisor, SupervisorError
from connectors.kafka.admin import KafkaAdminError, probe
from connectors.postgres.database import DatabaseError, connect
from connectors.postgres.embedded import EmbeddedPostgres
from connectors.postgres.migrations import MigrationError
from millstream.clock import SimClock
from millstream.errors import MillstreamError, ScenarioError
from millstream.masterdata import Scenario, read_scenario
from millstream.settings import ENV_DELIMITER, ENV_PREFIX, DatabaseSettings
from simulators.config import check_speed, simulation_config

__all__ = ["up_command"]

CLOCK_SAVE_S = 2.0


class _Stop(BaseException):
    """SIGINT or SIGTERM arrived."""


def _raise_stop(signum: int, _frame: FrameType | None) -> NoReturn:
    raise _Stop(signal.Signals(signum).name)


def _stop_behind(exc: BaseException) -> _Stop | None:
    """The stop signal ``exc`` was raised while handling, if any: a Ctrl-C that lands in a service call at
    start-up (psycopg cannot leave pipeline mode, a probe is cut short) turns into that service's error, which
    is then the interruption, not a failure of the service."""
    seen = exc.__context__
    while seen is not None and not isinstance(seen, _Stop):
        seen = seen.__context__
    return seen


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _check_port(port: int, what: str, option: str) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            fail(f"port {port} ({what}) is already in use on 127.0.0.1: stop what uses it or choose another "
                 f"with {option}", EXIT_UNAVAILABLE)


def _step(name: str, message: str) -> None:
    console.print(f"[green]✓[/] {name:<13} {message}", highlight=False, soft_wrap=True)


def _report(name: str, message: str) -> None:
    console.print(f"[yellow]![/] {name:<13} {message}", highlight=False, soft_wrap=True)


def _validate(scenario_file: Path, speed: float) -> Scenario:
    try:
        check_speed(speed)
    except MillstreamError as exc:
        fail(f"--speed: {exc}", EXIT_INPUT)
    try:
        scenario = read_scenario(scenario_file)
        simulation_config(scenario)
    except ScenarioError as exc:
        fail(str(exc), EXIT_INPUT)
    except MillstreamError as exc:
        fail(f"{scenario_file}: {exc}", EXIT_INPUT)
    if not scenario.machines or not scenario.shipments:
        fail(f"{scenario_file}: the demo needs machines and shipments to simulate", EXIT_INPUT)
    return scenario


def _configured(prefix: str) -> bool:
    return any(name.upper().startswith(prefix) for name in os.environ)


def up_command(
    speed: float = typer.Option(1.0, "--speed", help="Simulated seconds per wall-clock second."),
    port: int = typer.Option(None, "--port", help="API and UI port (default: MILLSTREAM_API__PORT, 8000)."),
    admin_key: str | None = typer.Option(None, "--admin-key", help="Use this admin API key instead of "
                                         "creating keys (any 1-200 printable characters)."),
    scenario_file: Path = typer.Option(Path("scenarios/demo.yaml"), "--scenario", help="Scenario to run."),
    data_dir: Path = typer.Option(Path(".millstream"), "--data-dir",
                                  help="Embedded database, recovery snapshots, logs and keys; kept across runs."),
    plant_port: int = typer.Option(4840, "--plant-port", help="The simulated plant's OPC-UA port."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the simulated world."),
) -> None:
    """Run the whole system: broker, database, simulators, bridge, ingest, dispatcher, API and web UI."""
    config = settings()
    scenario = _validate(scenario_file, speed)
    api_port = port or config.api.port
    _check_port(api_port, "API and web UI", "--port")
    _check_port(plant_port, "simulated plant, OPC UA", "--plant-port")
    if not _configured(ENV_PREFIX + "DATABASE" + ENV_DELIMITER + "URL") and find_spec("pgserver") is None:
        # \\[: a literal bracket, not rich markup (which swallowed "[embedded]")
        fail("the embedded database needs the pgserver package (pip install 'millstream\\[embedded]'), or set "
             "MILLSTREAM_DATABASE__URL to a PostgreSQL server", EXIT_INPUT)
    data_dir = data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    (data_dir / "run").mkdir(parents=True, exist_ok=True)
    lock = open(data_dir / "run" / "up.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fail(f"another `millstream up` is running with the data directory {data_dir}", EXIT_UNAVAILABLE)
    embedded_kafka = not _configured(ENV_PREFIX + "KAFKA" + ENV_DELIMITER)
    embedded_pg = None if _configured(ENV_PREFIX + "DATABASE" + ENV_DELIMITER + "URL") else \
        EmbeddedPostgres(data_dir / "postgres", _free_port())
    ctx = RunContext(workdir=Path.cwd(), data_dir=data_dir, scenario=scenario_file.resolve(), speed=speed,
                     seed=seed, api_port=api_port, plant_port=plant_port, erp_port=_free_port(),
                     embedded_kafka=embedded_kafka, embedded_postgres=embedded_pg)
    ctx.ports = {name: _free_port() for name in ("ingest", "bridge", "dispatch", "maintenance", "inventory",
                                                 "logistics")}
    supervisor = Supervisor(ctx, data_dir / "run" / "status.json", _report)
    ctx.env[ENV_PREFIX + "API__RUN_STATUS_FILE"] = str(supervisor.status_file)
    ctx.env[ENV_PREFIX + "DATA_DIR"] = str(data_dir)
    metrics_dir = data_dir / "run" / "metrics"  # every process's metrics, summed by the API's /metrics
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir()
    ctx.env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    console.print(f"[bold]millstream up[/] — scenario {scenario.name!r} at x{speed:g}, data in {data_dir}",
                  highlight=False, soft_wrap=True)
    clock: SimClock | None = None
    code = 0
    try:
        clock = _start(ctx, supervisor, scenario, config.database, admin_key)
        _watch(supervisor, scenario, clock, ctx)
    except _Stop as stop:
        console.print(f"\n{stop.args[0]}: stopping")
    except SupervisorError as exc:
        if (interrupted := _stop_behind(exc)) is not None:
            console.print(f"\n{interrupted.args[0]}: stopping")
        else:
            console.print(f"[bold red]error:[/] {exc}", highlight=False)
            code = EXIT_UNAVAILABLE
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if clock is not None:
            _save_clock(ctx, scenario, clock)
        killed = supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.close()
        (data_dir / "run" / "up.lock").unlink(missing_ok=True)
        note = f" ({', '.join(killed)} had to be killed)" if killed else ""
        console.print(f"stopped every service{note}")
    if code:
        raise typer.Exit(code)


def _db_settings(ctx: RunContext, configured: DatabaseSettings) -> DatabaseSettings:
    if ctx.embedded_postgres is None:
        return configured
    return configured.model_copy(update={"url": SecretStr(ctx.embedded_postgres.url())})


def _start(ctx: RunContext, supervisor: Supervisor, scenario: Scenario, configured_db: DatabaseSettings,
           admin_key: str | None) -> SimClock:
    t0 = time.monotonic()
    for service in SERVICES[:2]:
        if not service.enabled(ctx):
            continue
        if service.name == "postgres" and ctx.embedded_postgres is not None:
            if ctx.embedded_postgres.prepare():
                _step("postgres", f"initialised {ctx.embedded_postgres.data_dir}")
        with console.status(f"starting {service.name}"):
            supervisor.start(service)
        if service.name == "kafka":
            address = ctx.broker_address_file.read_text().strip()
            ctx.env[ENV_PREFIX + "KAFKA__BOOTSTRAP_SERVERS"] = address
            _step("kafka", f"embedded broker on {address} (keeps no messages across runs)")
        else:
            _step("postgres", f"embedded PostgreSQL on 127.0.0.1:{ctx.embedded_postgres.port}")  # type: ignore[union-attr]
    if not ctx.embedded_kafka:
        try:
            probe(settings().kafka)
        except KafkaAdminError as exc:
            raise SupervisorError(str(exc)) from None
        _step("kafka", f"using {settings().kafka.bootstrap_servers}")
    db = _db_settings(ctx, configured_db)
    ctx.env[ENV_PREFIX + "DATABASE__URL"] = db.url.get_secret_value()
    try:
        prepare.create_database(db.url.get_secret_value())
        with connect(db, autocommit=True) as conn:
            applied = prepare.migrate(conn, db).applied
            _step("migrations", f"{len(applied)} applied" if applied else "up to date")
            state = prepare.resume_clock(conn, scenario, ctx.speed, ctx.seed)
            counts = prepare.load_run_masterdata(conn, scenario, state.origin)
            _step("master data", f"{scenario.name}: {sum(counts.values())} rows")
            keys = prepare.ensure_api_keys(conn, ctx.data_dir / "run" / "api-keys.json", admin_key)
            ctx.erp_secret = prepare.erp_secret(ctx.data_dir / "run" / "erp-secret")
            prepare.ensure_erp_endpoint(conn, f"http://127.0.0.1:{ctx.erp_port}/webhooks", ctx.erp_secret)
    except (DatabaseError, psycopg.OperationalError) as exc:
        raise SupervisorError(f"PostgreSQL: {exc}") from None
    except MigrationError as exc:
        raise SupervisorError(str(exc)) from None
    wall_start = time.time()
    clock = SimClock(state.resume_at, ctx.speed, wall_start)
    ctx.replay_since = prepare.replay_since(state, ctx.speed)
    ctx.env.update({
        ENV_PREFIX + "CLOCK__ORIGIN": state.origin.isoformat(),
        ENV_PREFIX + "CLOCK__START": state.resume_at.isoformat(),
        ENV_PREFIX + "CLOCK__WALL_START": repr(wall_start),
        ENV_PREFIX + "CLOCK__SPEED": repr(ctx.speed),
    })
    how = f"resumed at {state.resume_at:%Y-%m-%d %H:%M:%S}Z" if state.resumed else \
        f"new timeline from {state.origin:%Y-%m-%d %H:%M:%S}Z"
    _step("clock", f"{how}, x{ctx.speed:g}")
    for service in SERVICES[2:]:
        if service.enabled(ctx):
            with console.status(f"starting {service.name}"):
                supervisor.start(service)
            _step(service.name, service.describe(ctx) if service.description else "running")
    supervisor.status.phase = "running"
    console.print(f"\n[bold green]Millstream is up[/] in {time.monotonic() - t0:.0f} s\n"
                  f"  UI       http://127.0.0.1:{ctx.api_port}/\n"
                  f"  API docs http://127.0.0.1:{ctx.api_port}/docs  (metrics: /metrics)\n"
                  f"  OPC UA   {ctx.plant_endpoint}\n"
                  f"  logs     {ctx.log_dir}", highlight=False, soft_wrap=True)
    for role, token in keys.items():
        console.print(f"  API key ({role}): {token}", highlight=False, soft_wrap=True)
    console.print("Stop with Ctrl-C.")
    return clock


def _watch(supervisor: Supervisor, scenario: Scenario, clock: SimClock, ctx: RunContext) -> None:
    def status() -> str:
        services = supervisor.status.services
        running = sum(1 for s in services if s.state in ("running", "finished"))
        restarts = sum(s.restarts for s in services)
        return (f"up | simulated {clock.now():%Y-%m-%d %H:%M:%S}Z x{ctx.speed:g} | {running}/{len(services)} "
                f"services running | {restarts} restarts | http://127.0.0.1:{ctx.api_port}/")

    saved = time.monotonic()
    with live_status(status, interval_s=30.0, summary="run"):
        while True:
            supervisor.watch_once()
            if time.monotonic() - saved >= CLOCK_SAVE_S:
                _save_clock(ctx, scenario, clock)
                saved = time.monotonic()
            time.sleep(0.5)


def _save_clock(ctx: RunContext, scenario: Scenario, clock: SimClock) -> None:
    url = ctx.env.get(ENV_PREFIX + "DATABASE__URL")
    if not url:
        return
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
            prepare.save_clock(conn, scenario, clock.now())
    except psycopg.Error as exc:
        _report("clock", f"could not record the simulated time: {exc}")
