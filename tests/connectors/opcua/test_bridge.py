"""The Bytewax source and the bridge dataflow: OPC-UA -> Kafka telemetry.readings / dlq, and stdout."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bytewax.operators as op
import orjson
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, cluster_main, run_main

from connectors.kafka.admin import create_topics
from connectors.kafka.topics import DLQ, TELEMETRY_READINGS, TELEMETRY_STATUS
from connectors.opcua.errors import OpcuaSecurityError
from connectors.opcua.source import OpcuaSource
from millstream.events import SensorReading
from millstream.events.connectivity import EndpointStatus
from millstream.serde import encode
from millstream.settings import Settings, load_settings
from streams.opcua_bridge import build_flow, to_json_line
from tests.helpers.kafka import consume_all
from tests.helpers.opcua import ObservedSource, connector, endpoint
from tests.helpers.opcua_servers import AsyncuaPlant

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

    def both_seen(items: list) -> bool:
        values = {(r.machine_id, r.tag, r.value) for r in items if isinstance(r, SensorReading)}
        states = {(s.endpoint, s.state) for s in items if isinstance(s, EndpointStatus)}
        return values >= {("M1", "temperature", 20.0), ("M1", "speed", 1000.0)} and states >= {
            ("good", "online"), ("dead", "offline")}

    source = ObservedSource(settings, connector(good, dead), both_seen)
    assert source.list_parts() == ["good", "dead"]
    out: list[object] = []
    test_flow = Dataflow("opcua_source_test")
    op.output("out", op.input("in", test_flow, source), TestingSink(out))
    if mode == "run_main":
        run_main(test_flow)
    else:
        cluster_main(test_flow, [], 0, worker_count_per_proc=2)
    assert source.done.is_set(), f"ended by the time limit; got {out[-10:]}"
    readings = [i for i in out if isinstance(i, SensorReading)]
    assert {(r.machine_id, r.tag, r.value) for r in readings} >= {("M1", "temperature", 20.0), ("M1", "speed", 1000.0)}
    offline = [i for i in out if isinstance(i, EndpointStatus) and i.endpoint == "dead"]
    assert offline and offline[0].state == "offline" and "opc.tcp://127.0.0.1:1/nowhere" in (offline[0].reason or "")
    assert any(isinstance(i, EndpointStatus) and i.endpoint == "good" and i.state == "online" for i in out)


def test_bridge_writes_readings_and_dead_letters_to_kafka(plant: AsyncuaPlant, settings: Settings,
                                                          tmp_path: Path) -> None:
    create_topics(settings.kafka, [TELEMETRY_READINGS, TELEMETRY_STATUS, DLQ])
    nodes = [*_nodes("M1"), {"node_id": "ns=2;s=M1.Missing", "machine_id": "M1", "tag": "missing"}]
    config = connector(endpoint(plant.url, nodes, subscription=FAST))
    settings = settings.model_copy(update={"opcua": settings.opcua.model_copy(update={"pki_dir": tmp_path})})
    # the initial value of each node, then stop (the time limit is only a bound)
    source = OpcuaSource(settings, config, max_readings=2, duration=timedelta(seconds=60))
    run_main(build_flow(settings, config, source=source))
    readings = [SensorReading.model_validate(orjson.loads(v))
                for v in consume_all(settings, TELEMETRY_READINGS.full_name(settings.kafka), 2)]
    assert {(r.machine_id, r.tag, r.value) for r in readings} == {("M1", "temperature", 20.0), ("M1", "speed", 1000.0)}
    letters = [orjson.loads(v) for v in consume_all(settings, DLQ.full_name(settings.kafka), 1)]
    assert letters and "ns=2;s=M1.Missing" in letters[0]["reason"] and letters[0]["stage"] == "opcua.readings"


def test_stdout_lines_are_one_json_object_each() -> None:
    reading = SensorReading(machine_id="M1", tag="t", value=1.5, status_code=0,
                            source_timestamp=datetime.now(UTC), node_id="ns=2;s=M1.T")
    line = to_json_line(reading)
    assert "\n" not in line
    data = orjson.loads(line)
    assert data["node_id"] == "ns=2;s=M1.T" and data["quality"] == "good" and data["event_id"] == reading.event_id
    assert line.encode() == encode(reading)  # the very document that goes to telemetry.readings
    assert SensorReading.model_validate_json(line) == reading
    status = EndpointStatus(endpoint="e", url="opc.tcp://h:1", state="offline", since=datetime.now(UTC))
    assert orjson.loads(to_json_line(status)) == orjson.loads(encode(status))


def test_source_refuses_insecure_and_missing_certificates_before_running(tmp_path: Path) -> None:
    settings = load_settings(opcua={"pki_dir": str(tmp_path)})
    insecure = endpoint("opc.tcp://127.0.0.1:4840", _nodes("M1"), security={"policy": "None", "mode": "None"})
    with pytest.raises(OpcuaSecurityError, match=r"endpoint 'test'.*security mode None is refused"):
        OpcuaSource(settings, connector(insecure))
    secure = endpoint("opc.tcp://127.0.0.1:4840", _nodes("M1"), security={"mode": "SignAndEncrypt"})
    with pytest.raises(OpcuaSecurityError, match=r"client certificate .*cert.der.*not found.*gen-cert"):
        OpcuaSource(settings, connector(secure))


def test_bridge_publishes_endpoint_status_to_kafka_across_a_restart(plant: AsyncuaPlant, settings: Settings,
                                                                   tmp_path: Path) -> None:
    """The server restarts while the bridge runs: telemetry.status gets online, offline, then online with
    the gap, keyed by the endpoint."""
    create_topics(settings.kafka, [TELEMETRY_READINGS, TELEMETRY_STATUS, DLQ])
    settings = settings.model_copy(update={"opcua": settings.opcua.model_copy(
        update={"pki_dir": tmp_path, "reconnect_initial_s": 0.1})})
    config = connector(endpoint(plant.url, _nodes("M1")[:1], name="press", subscription=FAST))

    def states(items: list) -> list[str]:
        return [s.state for s in items if isinstance(s, EndpointStatus)]

    source = ObservedSource(settings, config, lambda items: states(items) == ["online", "offline", "online"])

    def restart_when_online() -> None:
        source.wait_for(lambda items: any(isinstance(i, SensorReading) for i in items))
        plant.stop()
        source.wait_for(lambda items: states(items)[-1:] == ["offline"])
        plant.start()

    with ThreadPoolExecutor(1) as pool:
        restarted = pool.submit(restart_when_online)
        run_main(build_flow(settings, config, source=source))
        restarted.result(timeout=60)
    assert source.done.is_set(), f"ended by the time limit; saw {source.seen[-10:]}"
    consumer_topic = TELEMETRY_STATUS.full_name(settings.kafka)
    published = [EndpointStatus.model_validate(orjson.loads(v)) for v in consume_all(settings, consumer_topic, 3)]
    assert [s.state for s in published] == ["online", "offline", "online"]
    assert {s.endpoint for s in published} == {"press"}
    offline, back = published[1:]
    assert offline.reason and back.offline_since == offline.since
    assert back.gap_s is not None and back.gap_s > 0
    assert [s.event_id for s in published] == [s.event_id for s in source.seen if isinstance(s, EndpointStatus)]


def test_endpoint_without_its_certificate_is_reported_while_the_others_run(plant: AsyncuaPlant,
                                                                           tmp_path: Path) -> None:
    settings = load_settings(opcua={"pki_dir": str(tmp_path / "empty-pki"), "reconnect_initial_s": 0.1})
    good = endpoint(plant.url, _nodes("M1"), name="good", subscription=FAST)
    secured = endpoint(plant.url, _nodes("M1"), name="secured", subscription=FAST,
                       security={"policy": "Basic256Sha256", "mode": "SignAndEncrypt"})

    def seen_both(items: list) -> bool:
        return any(isinstance(r, SensorReading) for r in items) and any(
            isinstance(s, EndpointStatus) and s.endpoint == "secured" for s in items)

    source = ObservedSource(settings, connector(good, secured), seen_both)
    assert list(source.refused) == ["secured"] and "gen-cert" in source.refused["secured"]
    out: list[object] = []
    test_flow = Dataflow("opcua_refused_endpoint")
    op.output("out", op.input("in", test_flow, source), TestingSink(out))
    run_main(test_flow)
    assert source.done.is_set(), f"ended by the time limit; got {out[-10:]}"
    assert {r.machine_id for r in out if isinstance(r, SensorReading)} == {"M1"}
    status = next(s for s in out if isinstance(s, EndpointStatus) and s.endpoint == "secured")
    assert status.state == "offline"
    assert "endpoint 'secured'" in (status.reason or "") and "cert.der not found" in (status.reason or "")
    assert not any(isinstance(s, EndpointStatus) and s.endpoint == "secured" and s.state == "online" for s in out)


def test_count_without_duration_ends_although_one_endpoint_is_refused_for_good(plant: AsyncuaPlant,
                                                                              tmp_path: Path) -> None:
    """``--count`` without ``--duration``: the refused endpoint's session ends at once (insecure, never
    retried); its partition ends after emitting the ``offline`` status, so the flow ends with the good one's."""
    settings = load_settings(opcua={"pki_dir": str(tmp_path), "reconnect_initial_s": 0.1})
    good = endpoint(plant.url, _nodes("M1"), name="good", subscription=FAST)
    refused = endpoint(plant.url, _nodes("M1"), name="refused", subscription=FAST,
                       security={"policy": "None", "mode": "None"})
    source = OpcuaSource(settings, connector(good, refused), max_readings=2)
    assert list(source.refused) == ["refused"]
    out: list[object] = []
    test_flow = Dataflow("opcua_count_with_refused_endpoint")
    op.output("out", op.input("in", test_flow, source), TestingSink(out))
    flow = threading.Thread(target=run_main, args=(test_flow,), daemon=True)  # daemon: a hang must not block exit
    flow.start()
    flow.join(60)
    assert not flow.is_alive(), f"the flow did not end; got {out[-10:]}"
    assert len([r for r in out if isinstance(r, SensorReading)]) == 2
    status = [s for s in out if isinstance(s, EndpointStatus) and s.endpoint == "refused"]
    assert [s.state for s in status] == ["offline"] and "security mode None is refused" in (status[0].reason or "")
