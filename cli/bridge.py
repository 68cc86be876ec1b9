"""``millstream bridge``: run the dataflows that carry plant-floor data into Kafka.

``millstream bridge opcua --config FILE`` bridges every configured endpoint to ``telemetry.readings``;
``--scenario FILE`` takes the machines' OPC-UA mapping from a scenario instead (security and identity from
the command-line options; the simulated plant needs ``--allow-insecure``). For a quick look::

    millstream bridge opcua --endpoint opc.tcp://127.0.0.1:4840 --node "ns=1;s=Temperature" \\
        --sink stdout --duration 5

prints one JSON object per reading (and per endpoint status change) on stdout (``--count N`` stops after N
readings instead). With ``--sink kafka`` endpoint status changes go to ``telemetry.status``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import typer

from cli.common import EXIT_INPUT, console, fail, require, settings
from cli.opcua import (
    AllowInsecureOption,
    PasswordOption,
    SecurityModeOption,
    UsernameOption,
    connection_options,
    prompt_password,
)
from cli.status import flow_counts, live_status
from connectors.kafka.topics import TELEMETRY_READINGS
from connectors.opcua.config import (
    ConnectorConfig,
    Identity,
    SecurityConfig,
    config_from_data,
    config_from_scenario,
    load_config,
    safe_name,
)
from connectors.opcua.errors import OpcuaError
from connectors.opcua.source import OpcuaSource
from millstream.errors import ScenarioError
from millstream.masterdata import read_scenario
from streams.opcua_bridge import build_flow
from streams.runner import run_flow

__all__ = ["app"]

app = typer.Typer(help="Bridges from the plant floor into Kafka.", no_args_is_help=True)


def _tag_of(node_id: str) -> str:
    """A tag name from a NodeId's identifier (``ns=1;s=Temperature`` -> ``Temperature``)."""
    return safe_name(node_id.rsplit(";", 1)[-1].split("=", 1)[-1], "value")


def _quick_look_config(url: str, nodes: list[str], machine_id: str | None, subscription: dict[str, object],
                       **connection: object) -> ConnectorConfig:
    fields = connection_options(url, **connection)  # type: ignore[arg-type]
    machine = machine_id or str(fields["name"])
    mapped = [{"node_id": node, "machine_id": machine, "tag": _tag_of(node)} for node in nodes]
    return config_from_data({"endpoints": [{**fields, "nodes": mapped, "subscription": subscription}]},
                            source="command line")


@app.command("opcua")
def opcua_command(
    config: Path | None = typer.Option(None, "--config", help="Connector configuration file (YAML or JSON)."),
    scenario: Path | None = typer.Option(None, "--scenario", help="Scenario file: its machines' OPC-UA mapping."),
    endpoint: str | None = typer.Option(
        None, "--endpoint", help="Quick look: one endpoint URL (with --node); with --scenario: the server URL."),
    node: list[str] = typer.Option([], "--node", help="Quick look: a NodeId to read (repeatable)."),
    machine_id: str | None = typer.Option(None, "--machine-id", help="Quick look: machine id for the readings."),
    sink: str = typer.Option("kafka", "--sink", help="kafka (telemetry.readings) or stdout (JSON lines)."),
    duration: float | None = typer.Option(None, "--duration", min=0.1, help="Stop after this many seconds."),
    count: int | None = typer.Option(
        None, "--count", min=1, help="Stop after this many readings (per endpoint), or --duration, if sooner."),
    publishing_interval_ms: float = typer.Option(500.0, "--publishing-interval-ms", min=1),
    sampling_interval_ms: float = typer.Option(250.0, "--sampling-interval-ms", min=0),
    security_mode: str | None = SecurityModeOption,
    allow_insecure: bool = AllowInsecureOption,
    username: str | None = UsernameOption,
    password: str | None = PasswordOption,
    metrics_port: int | None = typer.Option(None, "--metrics-port", help="Serve Prometheus metrics (/metrics)."),
) -> None:
    """Bridge OPC-UA readings into Kafka telemetry.readings (or print them with --sink stdout)."""
    if sink not in ("kafka", "stdout"):
        fail(f"--sink must be kafka or stdout, not {sink!r}")
    sources = [name for name, given in (("--config", config), ("--scenario", scenario),
                                        ("--endpoint", endpoint and not scenario)) if given]
    if len(sources) != 1:
        fail("give exactly one of --config FILE, --scenario FILE [--endpoint URL] or --endpoint URL --node NODEID")
    password = prompt_password(username, password)
    app_settings = settings()
    if config is not None and (security_mode or allow_insecure or username):
        fail("with --config, set security and identity per endpoint in the file "
             "(security.mode, security.allow_insecure, identity), not on the command line")
    try:
        if config is not None:
            connector = load_config(config)
        elif scenario is not None:
            fields = connection_options("opc.tcp://scenario", security_mode=security_mode,
                                        allow_insecure=allow_insecure, username=username, password=password)
            connector = config_from_scenario(
                read_scenario(scenario), security=SecurityConfig.model_validate(fields["security"]),
                identity=Identity.model_validate(fields["identity"]), url_override=endpoint)
        else:
            if not node:
                fail("--endpoint needs at least one --node NODEID")
            subscription: dict[str, object] = {"publishing_interval_ms": publishing_interval_ms,
                            "sampling_interval_ms": sampling_interval_ms}
            connector = _quick_look_config(
                str(endpoint), node, machine_id, subscription, security_mode=security_mode,
                allow_insecure=allow_insecure, username=username, password=password)
        source = OpcuaSource(app_settings, connector,
                             duration=timedelta(seconds=duration) if duration is not None else None,
                             max_readings=count)
    except (OpcuaError, ScenarioError) as exc:
        fail(str(exc), EXIT_INPUT)
    flow = build_flow(app_settings, connector, sink=sink, source=source)  # type: ignore[arg-type]
    if sink == "stdout":  # stdout carries the data: no status line there
        run_flow(flow, metrics_port=metrics_port)
        return
    require(app_settings, kafka=True)
    endpoints = ", ".join(e.url for e in connector.endpoints)
    console.print(f"bridge: OPC UA {endpoints} -> Kafka {app_settings.kafka.bootstrap_servers} "
                  f"({TELEMETRY_READINGS.full_name(app_settings.kafka)})"
                  + (f"; metrics on http://127.0.0.1:{metrics_port}/metrics" if metrics_port else ""),
                  highlight=False, soft_wrap=True)
    with live_status(lambda: f"bridge | {flow_counts()}", summary="bridge finished"):
        try:
            run_flow(flow, metrics_port=metrics_port)
        except KeyboardInterrupt:
            pass
