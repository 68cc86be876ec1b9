"""The services ``millstream up`` runs, one entry each: the single list to extend.

A :class:`Service` is data: a name, the command line (built from the run's :class:`RunContext`), a readiness
probe, and how it stops. :data:`SERVICES` is in start order; ``embedded_only`` entries run only when the run
starts its own broker or database. A dataflow joins the run by adding one entry, e.g.::

    Service("maintenance", flow_argv("maintenance"), ready=metrics_ready("maintenance"), stop_wave=1,
            stop_signal=signal.SIGINT),

``flow_argv(command)`` runs ``millstream <command>`` with the run's recovery directory and a metrics port
(``--recovery-dir``, ``--metrics-port``), like ingest.
"""

from __future__ import annotations

import signal
import socket
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from connectors.postgres.embedded import EmbeddedPostgres

__all__ = ["SERVICES", "RunContext", "Service", "flow_argv", "metrics_ready", "port_open"]


@dataclass
class RunContext:
    """Everything a service's command line may need; filled in by ``millstream up`` as the run starts."""

    workdir: Path
    data_dir: Path
    scenario: Path
    speed: float
    seed: int
    api_port: int
    plant_port: int
    erp_port: int
    embedded_kafka: bool
    embedded_postgres: EmbeddedPostgres | None
    #: simulated instant from which fleet and gates replay their timelines (repeats are dropped by id)
    replay_since: datetime | None = None
    ports: dict[str, int] = field(default_factory=dict)  # metrics port per service
    env: dict[str, str] = field(default_factory=dict)  # MILLSTREAM_* for every child
    erp_secret: str = ""

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def broker_address_file(self) -> Path:
        return self.data_dir / "run" / "broker.address"

    def recovery_dir(self, flow: str) -> Path:
        return self.data_dir / "recovery" / flow

    @property
    def plant_endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.plant_port}/millstream/plant"


Argv = Callable[[RunContext], list[str]]
Probe = Callable[[RunContext], bool]


@dataclass(frozen=True)
class Service:
    name: str
    argv: Argv
    ready: Probe | None = None
    #: services stop wave by wave (producers first, the flows that drain them next, infrastructure last)
    stop_wave: int = 1
    stop_signal: int = signal.SIGTERM
    #: seconds to wait after this wave before stopping the next (lets the flows drain what was produced)
    drain_after_s: float = 0.0
    may_finish: bool = False
    embedded_only: str = ""  # "kafka" or "postgres": only when the run embeds it
    env: Callable[[RunContext], dict[str, str]] | None = None
    run_as: Callable[[RunContext], str | None] | None = None
    description: str = ""

    def enabled(self, ctx: RunContext) -> bool:
        if self.embedded_only == "kafka":
            return ctx.embedded_kafka
        if self.embedded_only == "postgres":
            return ctx.embedded_postgres is not None
        return True

    def extra_env(self, ctx: RunContext) -> dict[str, str]:
        return self.env(ctx) if self.env else {}

    def user(self, ctx: RunContext) -> str | None:
        return self.run_as(ctx) if self.run_as else None

    def describe(self, ctx: RunContext) -> str:
        return self.description or " ".join(self.argv(ctx)[2:])


def millstream(*args: str) -> list[str]:
    """The ``millstream`` command line in this interpreter."""
    return [sys.executable, "-m", "cli", *args]


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as answer:  # noqa: S310 - our own local URL
            return bool(answer.status == 200)
    except OSError:
        return False


def metrics_ready(name: str) -> Probe:
    """Ready when the service's ``/metrics`` answers."""
    return lambda ctx: _http_ok(f"http://127.0.0.1:{ctx.ports[name]}/metrics")


def flow_argv(command: str, *extra: str) -> Argv:
    """``millstream <command>`` as a run's dataflow: resumable, with a metrics port."""
    return lambda ctx: millstream(command, "--recovery-dir", str(ctx.recovery_dir(command)),
                                  "--metrics-port", str(ctx.ports[command]), *extra)


def _simulator(kind: str) -> Argv:
    def argv(ctx: RunContext) -> list[str]:
        since = ["--since", ctx.replay_since.isoformat()] if ctx.replay_since else []
        days = ["--days", "7"] if kind == "fleet" else []
        return millstream("simulate", kind, "--scenario", str(ctx.scenario), "--seed", str(ctx.seed), *since, *days,
                          "--ground-truth-db")
    return argv


def _postgres_ready(ctx: RunContext) -> bool:
    assert ctx.embedded_postgres is not None
    if not port_open(ctx.embedded_postgres.port):
        return False
    import psycopg

    with psycopg.connect(ctx.embedded_postgres.url("postgres"), connect_timeout=2) as conn:
        conn.execute("SELECT 1")
    return True


SERVICES: list[Service] = [
    Service("kafka", lambda ctx: [sys.executable, "-m", "connectors.kafka.embedded", "--address-file",
                                  str(ctx.broker_address_file)],
            ready=lambda ctx: ctx.broker_address_file.exists(), stop_wave=9, embedded_only="kafka",
            description="embedded Kafka broker (librdkafka mock cluster)"),
    Service("postgres", lambda ctx: ctx.embedded_postgres.argv() if ctx.embedded_postgres else [],
            ready=_postgres_ready, stop_wave=9, stop_signal=signal.SIGINT, embedded_only="postgres",
            run_as=lambda ctx: ctx.embedded_postgres.user if ctx.embedded_postgres else None,
            description="embedded PostgreSQL"),
    Service("erp-receiver", lambda ctx: [sys.executable, "-m", "simulators.erp_receiver", "--port",
                                         str(ctx.erp_port)],
            ready=lambda ctx: port_open(ctx.erp_port), stop_wave=2,
            env=lambda ctx: {"ERP_RECEIVER_SECRETS": ctx.erp_secret}),
    Service("plant", lambda ctx: millstream("simulate", "plant", "--scenario", str(ctx.scenario), "--seed",
                                            str(ctx.seed), "--port", str(ctx.plant_port), "--ground-truth-db"),
            ready=lambda ctx: port_open(ctx.plant_port), stop_wave=0),
    Service("ingest", flow_argv("ingest"), ready=metrics_ready("ingest"), stop_wave=1, stop_signal=signal.SIGINT),
    Service("maintenance", lambda ctx: flow_argv("maintenance", "--train-if-missing", str(ctx.scenario))(ctx),
            ready=metrics_ready("maintenance"), stop_wave=1, stop_signal=signal.SIGINT,
            env=lambda ctx: {"MILLSTREAM_MAINTENANCE__MODEL_REGISTRY": str(ctx.data_dir / "models")},
            description="maintenance flow (trains the plant model from its recipe on first start, ~10 s)"),
    Service("logistics", flow_argv("logistics"), ready=metrics_ready("logistics"), stop_wave=1,
            stop_signal=signal.SIGINT, description="logistics flow (geofences, milestones, ETA, delay alerts)"),
    Service("inventory", flow_argv("inventory"), ready=metrics_ready("inventory"), stop_wave=1,
            stop_signal=signal.SIGINT),
    Service("bridge", lambda ctx: millstream("bridge", "opcua", "--scenario", str(ctx.scenario), "--endpoint",
                                             ctx.plant_endpoint, "--allow-insecure", "--metrics-port",
                                             str(ctx.ports["bridge"])),
            ready=metrics_ready("bridge"), stop_wave=0, stop_signal=signal.SIGINT, drain_after_s=1.0),
    Service("dispatch", lambda ctx: millstream("dispatch", "--metrics-port", str(ctx.ports["dispatch"])),
            ready=metrics_ready("dispatch"), stop_wave=1),
    Service("fleet", _simulator("fleet"), stop_wave=0, may_finish=True),
    Service("gates", _simulator("gates"), stop_wave=0, may_finish=True),
    Service("api", lambda ctx: millstream("api", "serve", "--port", str(ctx.api_port)),
            ready=lambda ctx: _http_ok(f"http://127.0.0.1:{ctx.api_port}/healthz"), stop_wave=2),
]
