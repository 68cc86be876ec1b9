"""The command line against node-opcua's sample server: the acceptance quick look, insecure refusal,
gen-cert + trust + a secured quick look, and browse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from connectors.kafka.admin import create_topics
from connectors.kafka.topics import DLQ, TELEMETRY_READINGS, TELEMETRY_STATUS
from millstream.events import SensorReading
from millstream.settings import Settings
from tests.helpers.kafka import consume_all
from tests.helpers.opcua_servers import NodeOpcuaServer

pytestmark = [pytest.mark.opcua, pytest.mark.subprocess]

MILLSTREAM = str(Path(sys.executable).parent / "millstream")


def run(*args: str, pki: Path, timeout: float = 120, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "MILLSTREAM_OPCUA__PKI_DIR": str(pki), "COLUMNS": "200", **(env or {})}
    return subprocess.run([MILLSTREAM, *args], capture_output=True, text=True, timeout=timeout, env=environment,
                          check=False)


def json_lines(stdout: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stdout.splitlines() if line.strip()]


# Runs stop on a condition (--count readings); --duration is only the upper bound.
BOUND = ("--duration", "60")


def test_quick_look_prints_readings_as_json_lines(node_opcua: NodeOpcuaServer, tmp_path: Path) -> None:
    result = run("bridge", "opcua", "--endpoint", node_opcua.url, "--node", "ns=1;s=Temperature", "--sink", "stdout",
                 "--count", "3", *BOUND, "--allow-insecure", pki=tmp_path)
    assert result.returncode == 0, result.stderr
    items = json_lines(result.stdout)
    readings = [i for i in items if "tag" in i]
    assert len(readings) == 3
    assert {r["node_id"] for r in readings} == {"ns=1;s=Temperature"}
    assert all(r["tag"] == "Temperature" and isinstance(r["value"], float) and r["quality"] == "good"
               and r["source_timestamp"] and r["server_timestamp"] for r in readings)
    assert "state" in items[0] and items[0]["state"] == "online"


def test_insecure_quick_look_is_refused_without_the_flag(node_opcua: NodeOpcuaServer, tmp_path: Path) -> None:
    result = run("bridge", "opcua", "--endpoint", node_opcua.url, "--node", "ns=1;s=Temperature", "--sink", "stdout",
                 "--duration", "1", "--security-mode", "None", pki=tmp_path)
    assert result.returncode == 1
    assert "security mode None is refused" in result.stderr and "--allow-insecure" in result.stderr
    assert result.stdout == ""


def test_gen_cert_trust_then_secured_quick_look(node_opcua: NodeOpcuaServer, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    missing = run("bridge", "opcua", "--endpoint", node_opcua.url, "--node", "ns=1;s=PumpSpeed", "--sink", "stdout",
                  "--duration", "1", pki=pki)
    assert missing.returncode == 1 and "gen-cert" in missing.stderr
    made = run("opcua", "gen-cert", "--application-uri", "urn:millstream:cli-test", pki=pki)
    assert made.returncode == 0, made.stderr
    assert "urn:millstream:cli-test" in made.stdout and (pki / "own" / "cert.der").is_file()
    trusted = run("opcua", "trust", node_opcua.url, pki=pki)
    assert trusted.returncode == 0, trusted.stderr
    assert len(list((pki / "trusted").glob("*.der"))) == 1
    result = run("bridge", "opcua", "--endpoint", node_opcua.url, "--node", "ns=1;s=PumpSpeed", "--sink", "stdout",
                 "--count", "1", *BOUND, "--machine-id", "PUMP-1", pki=pki)
    assert result.returncode == 0, result.stderr
    readings = [i for i in json_lines(result.stdout) if "tag" in i]
    assert readings and all(r["machine_id"] == "PUMP-1" for r in readings)


def test_browse_prints_the_tree(node_opcua: NodeOpcuaServer, tmp_path: Path) -> None:
    result = run("opcua", "browse", node_opcua.url, "--root", "ns=1;i=1000", "--depth", "1", "--allow-insecure",
                 pki=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "  ns=1;s=Temperature  1:Temperature  Variable  Double" in result.stdout.splitlines()
    unreachable = run("opcua", "browse", "opc.tcp://127.0.0.1:1", "--allow-insecure", pki=tmp_path)
    assert unreachable.returncode == 3
    assert "opc.tcp://127.0.0.1:1" in unreachable.stderr and "connection refused" in unreachable.stderr


def test_bridge_to_kafka(node_opcua: NodeOpcuaServer, settings: Settings, tmp_path: Path) -> None:
    create_topics(settings.kafka, [TELEMETRY_READINGS, TELEMETRY_STATUS, DLQ])
    env = {"MILLSTREAM_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix}
    result = run("bridge", "opcua", "--endpoint", node_opcua.url, "--node", "ns=1;s=FanSpeed", "--machine-id", "FAN-1",
                 "--count", "3", *BOUND, "--allow-insecure", pki=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    values = consume_all(settings, TELEMETRY_READINGS.full_name(settings.kafka), 3)
    readings = [SensorReading.model_validate(orjson.loads(v)) for v in values]
    assert len(readings) == 3 and {r.machine_id for r in readings} == {"FAN-1"}
    status = [orjson.loads(v) for v in consume_all(settings, TELEMETRY_STATUS.full_name(settings.kafka), 1)]
    assert status and status[0]["state"] == "online" and status[0]["url"] == node_opcua.url


def test_allow_insecure_setting_counts_like_the_flag(node_opcua: NodeOpcuaServer, tmp_path: Path) -> None:
    """MILLSTREAM_OPCUA__ALLOW_INSECURE=true: quick look and browse connect without security, no flag needed."""
    env = {"MILLSTREAM_OPCUA__ALLOW_INSECURE": "true"}
    result = run("bridge", "opcua", "--endpoint", node_opcua.url, "--node", "ns=1;s=Temperature", "--sink", "stdout",
                 "--count", "1", *BOUND, pki=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert [i["node_id"] for i in json_lines(result.stdout) if "tag" in i] == ["ns=1;s=Temperature"]
    browsed = run("opcua", "browse", node_opcua.url, "--root", "ns=1;i=1000", "--depth", "1", pki=tmp_path, env=env)
    assert browsed.returncode == 0, browsed.stderr
    assert "  ns=1;s=Temperature  1:Temperature  Variable  Double" in browsed.stdout.splitlines()
    refused = run("opcua", "browse", node_opcua.url, "--root", "ns=1;i=1000", "--security-mode", "None",
                  pki=tmp_path, env={"MILLSTREAM_OPCUA__ALLOW_INSECURE": "false"})
    assert refused.returncode == 1 and "security mode None is refused" in refused.stderr
