"""The Bytewax source and the bridge dataflow: OPC-UA -> Kafka telemetry.readings / dlq, and stdout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import bytewax.operators as op
import orjson
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, cluster_main, run_main

from connectors.kafka.admin import create_topics
from connectors.kafka.topics import DLQ, TELEMETRY_READINGS
from connectors.opcua.errors import OpcuaSecurityError
from connectors.opcua.source import OpcuaSource
from millstream.events import SensorReading
from millstream.events.connectivity import EndpointStatus
from millstream.settings import Settings, load_settings
from streams.opcua_bridge import build_flow, to_json_line
from tests.opcua.conftest import connector, consume, endpoint
from tests.opcua.servers import AsyncuaPlant

FAST = {"publishing_interval_ms": 50, "sampling_interval_ms": 0}


def _nodes(machine: str) -> list[dict[str, object]]:
    return [{"node_id": AsyncuaPlant.node_id(machine, "Temperature"), "machine_id": machine, "tag": "temperature"},
            {"node_id": AsyncuaPlant.node_id(machine, "Speed"), "machine_id": machine, "tag": "speed"}]


@pytest.mark.parametrize("mode", ["run_main", "cluster_main_2_workers"])
def test_source_one_partition_per_endpoint_other_endpoint_keeps_running(
    plant: AsyncuaPlant, tmp_path: Path, mode: str
) -> None:
    """Two endpoints, one unreachable: the good one delivers, the bad one reports offline naming itself."""
    settings = load_settings(opcua={"pki_dir": str(tmp_path), "reconnect_initial_s": 0.1})
    good = endpoint(plant.url, _nodes("M1"), name="good", subscription=FAST)
    dead = endpoint("opc.tcp://127.0.0.1:1/nowhere", _nodes("M1"), name="dead", subscription=FAST)
    source = OpcuaSource(settings, connector(good, dead), duration=timedelta(seconds=2.5))
    assert source.list_parts() == ["good", "dead"]
    out: list[object] = []
    test_flow = Dataflow("opcua_source_test")
    op.output("out", op.input("in", test_flow, source), TestingSink(out))
    if mode == "run_main":
        run_main(test_flow)
    else:
        cluster_main(test_flow, [], 0, worker_count_per_proc=2)
    readings = [i for i in out if isinstance(i, SensorReading)]
    assert {(r.machine_id, r.tag, r.value) for r in readings} >= {("M1", "temperature", 20.0), ("M1", "speed", 1000.0)}
    offline = [i for i in out if isinstance(i, EndpointStatus) and i.endpoint == "dead"]
    assert offline and offline[0].state == "offline" and "opc.tcp://127.0.0.1:1/nowhere" in (offline[0].reason or "")
    assert any(isinstance(i, EndpointStatus) and i.endpoint == "good" and i.state == "online" for i in out)


def test_bridge_writes_readings_and_dead_letters_to_kafka(plant: AsyncuaPlant, settings: Settings,
                                                          tmp_path: Path) -> None:
    create_topics(settings.kafka, [TELEMETRY_READINGS, DLQ])
    nodes = [*_nodes("M1"), {"node_id": "ns=2;s=M1.Missing", "machine_id": "M1", "tag": "missing"}]
    config = connector(endpoint(plant.url, nodes, subscription=FAST))
    settings = settings.model_copy(update={"opcua": settings.opcua.model_copy(update={"pki_dir": tmp_path})})
    run_main(build_flow(settings, config, duration=timedelta(seconds=2)))
    readings = [SensorReading.model_validate(orjson.loads(v))
                for v in consume(settings, TELEMETRY_READINGS.full_name(settings.kafka), 2)]
    assert {(r.machine_id, r.tag, r.value) for r in readings} == {("M1", "temperature", 20.0), ("M1", "speed", 1000.0)}
    letters = [orjson.loads(v) for v in consume(settings, DLQ.full_name(settings.kafka), 1)]
    assert letters and "ns=2;s=M1.Missing" in letters[0]["reason"] and letters[0]["stage"] == "opcua.readings"


def test_stdout_lines_are_one_json_object_each() -> None:
    reading = SensorReading(machine_id="M1", tag="t", value=1.5, status_code=0,
                            source_timestamp=datetime.now(UTC), node_id="ns=2;s=M1.T")
    line = to_json_line(reading)
    assert "\n" not in line
    data = orjson.loads(line)
    assert data["type"] == "sensor_reading" and data["node_id"] == "ns=2;s=M1.T" and data["quality"] == "good"


def test_source_refuses_insecure_and_missing_certificates_before_running(tmp_path: Path) -> None:
    settings = load_settings(opcua={"pki_dir": str(tmp_path)})
    insecure = endpoint("opc.tcp://127.0.0.1:4840", _nodes("M1"), security={"policy": "None", "mode": "None"})
    with pytest.raises(OpcuaSecurityError, match=r"endpoint 'test'.*security mode None is refused"):
        OpcuaSource(settings, connector(insecure))
    secure = endpoint("opc.tcp://127.0.0.1:4840", _nodes("M1"), security={"mode": "SignAndEncrypt"})
    with pytest.raises(OpcuaSecurityError, match=r"client certificate .*cert.der.*not found.*gen-cert"):
        OpcuaSource(settings, connector(secure))
