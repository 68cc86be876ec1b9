"""Configuration files, node resolution (browse paths, discovery) and reading conversion rules."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asyncua import Client, ua
from pydantic import ValidationError

from connectors.opcua.browse import browse_tree, resolve_nodes
from connectors.opcua.config import config_from_scenario, load_config
from connectors.opcua.errors import OpcuaConfigError
from connectors.opcua.readings import MappedNode, ReadingFactory
from connectors.opcua.session import Backoff
from millstream.events import DEFAULT_TIME_POLICY, DeadLetter, SensorReading
from millstream.events.connectivity import EndpointStatus
from millstream.masterdata import read_scenario
from tests.helpers.opcua import endpoint
from tests.helpers.opcua_servers import AsyncuaPlant
from tests.helpers.paths import ROOT

NOW = datetime.now(UTC).replace(microsecond=0)
NODE = MappedNode("ns=2;s=M1.Temperature", "M1", "temperature", "degC")


def test_example_config_loads() -> None:
    config = load_config(ROOT / "connectors" / "opcua" / "example.yaml")
    plant = config.endpoint("plant")
    assert plant.security.mode == "SignAndEncrypt" and plant.identity.type == "username"
    assert plant.nodes[1].browse_path == "0:Objects/2:CNC-01/2:VibrationRms"
    assert plant.subscription.deadband.type == "absolute" and plant.nodes[2].deadband is not None
    assert "change-me" not in repr(config)


@pytest.mark.parametrize(("text", "expected"), [
    ("endpoints: [{name: a, url: 'http://x', nodes: [{node_id: 'i=1', machine_id: M, tag: t}]}]",
     "endpoints[a].url"),
    ("endpoints: [{name: a, url: 'opc.tcp://x:1', nodes: [{node_id: 'ns=2;q=1', machine_id: M, tag: t}]}]",
     "endpoints[a].nodes[0].node_id: 'ns=2;q=1' is not a NodeId"),
    ("endpoints: [{name: a, url: 'opc.tcp://x:1', security: {policy: None, mode: Sign}, "
     "nodes: [{node_id: 'i=1', machine_id: M, tag: t}]}]", "do not agree"),
    ("endpoints: [{name: a, url: 'opc.tcp://x:1', identity: {type: username, username: u}, "
     "nodes: [{node_id: 'i=1', machine_id: M, tag: t}]}]", "needs username and password"),
    ("endpoints: [{name: a, url: 'opc.tcp://x:1'}]", "needs nodes or discover"),
    ("endpoints: [{name: a, url: 'opc.tcp://x:1', nodes: [{node_id: 'i=1', browse_path: '0:Objects', "
     "machine_id: M, tag: t}]}]", "exactly one of node_id or browse_path"),
    ("endpoints: [{name: a, url: 'opc.tcp://x:1', nodes: [{node_id: 'i=1', machine_id: M, tag: t}, "
     "{node_id: 'i=2', machine_id: M, tag: t}]}]", "mapped twice: M/t"),
    ("[1, 2", "not valid YAML"),
])
def test_bad_config_names_file_endpoint_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "opcua.yaml"
    path.write_text(text)
    with pytest.raises(OpcuaConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_scenario_mapping_becomes_one_endpoint() -> None:
    config = config_from_scenario(read_scenario(ROOT / "scenarios" / "demo.yaml"))
    (ep,) = config.endpoints
    assert ep.url == "opc.tcp://127.0.0.1:4840/millstream/plant" and ep.security.mode == "SignAndEncrypt"
    assert any(n.node_id == "ns=2;s=CNC-01.SpindleTemperature" and n.tag == "spindle_temperature" for n in ep.nodes)


@pytest.mark.opcua
def test_browse_paths_and_discovery_resolve_against_a_server(tmp_path: Path) -> None:
    plant = AsyncuaPlant(machines=2).start()
    try:
        ep = endpoint(plant.url, [{"browse_path": "0:Objects/2:Machines/2:M2/2:Speed", "machine_id": "X",
                                   "tag": "speed"}],
                      discover=[{"root": "ns=2;s=Machines", "type_definition": "ns=2;s=MachineType"},
                                {"root": "ns=2;s=Nothing"}])
        untyped = endpoint(plant.url, [], discover=[{"root": "ns=2;s=Machines"}])

        async def resolve() -> tuple[list, list, list]:
            async with Client(plant.url) as client:
                nodes, problems = await resolve_nodes(client, ep)
                tree = await browse_tree(client, ua.NodeId.from_string("ns=2;s=Machines"), depth=2)
                everything, _ = await resolve_nodes(client, untyped)
                return nodes, problems, tree, everything

        nodes, problems, tree, everything = asyncio.run(resolve())
    finally:
        plant.close()
    assert nodes[0] == MappedNode("ns=2;s=M2.Speed", "X", "speed")
    discovered = {(n.machine_id, n.tag, n.node_id) for n in nodes[1:]}
    assert ("M1", "Temperature", "ns=2;s=M1.Temperature") in discovered
    assert ("M2", "Label", "ns=2;s=M2.Label") in discovered and len(discovered) == 10
    assert [p.address for p in problems] == ["ns=2;s=Nothing"]
    assert {n.machine_id for n in everything} == {"M1", "M2", "Panel"}  # without a type: any object with variables
    assert any(t.node_id == "ns=2;s=M1.Temperature" and t.data_type == "Double" and t.depth == 2 for t in tree)


def _value(value: object, status: int = 0, source: datetime | None = NOW, server: datetime | None = NOW,
           variant_type: ua.VariantType | None = None) -> ua.DataValue:
    variant = ua.Variant(value, variant_type) if variant_type else ua.Variant(value)
    return ua.DataValue(variant, ua.StatusCode(status), SourceTimestamp=source, ServerTimestamp=server)


def test_implausible_source_timestamp_falls_back_to_server_then_receive_time() -> None:
    factory = ReadingFactory("ep", DEFAULT_TIME_POLICY)
    old = datetime(2016, 10, 13, 8, 40, tzinfo=UTC)
    reading = factory.reading(NODE, _value(1.0, source=old), NOW)
    assert isinstance(reading, SensorReading) and reading.source_timestamp == NOW
    future = NOW + timedelta(hours=1)
    reading = factory.reading(NODE, _value(1.0, source=future, server=future), NOW + timedelta(seconds=1))
    assert isinstance(reading, SensorReading) and reading.source_timestamp == NOW + timedelta(seconds=1)
    reading = factory.reading(NODE, _value(1.0, source=None), NOW)
    assert isinstance(reading, SensorReading) and reading.source_timestamp == NOW and reading.server_timestamp == NOW


def test_value_types() -> None:
    factory = ReadingFactory("ep", DEFAULT_TIME_POLICY)
    as_text = factory.reading(NODE, _value(datetime(2026, 1, 2, tzinfo=UTC)), NOW)
    assert isinstance(as_text, SensorReading) and as_text.value == "2026-01-02T00:00:00+00:00"
    count = factory.reading(NODE, _value(7, variant_type=ua.VariantType.UInt32), NOW)
    assert isinstance(count, SensorReading) and count.value == 7
    letter = factory.reading(NODE, _value(b"\x00\x01"), NOW)
    assert isinstance(letter, DeadLetter) and letter.error_type == "opcua_value"
    assert "endpoint 'ep' node ns=2;s=M1.Temperature" in letter.reason and "bytes" in letter.reason
    good_without_value = factory.reading(NODE, ua.DataValue(ua.Variant(None), SourceTimestamp=NOW), NOW)
    assert isinstance(good_without_value, DeadLetter)
    bad = factory.reading(NODE, ua.DataValue(ua.Variant(None), ua.StatusCode(ua.StatusCodes.BadNoCommunication),
                                             SourceTimestamp=NOW), NOW)
    assert isinstance(bad, SensorReading) and bad.quality == "bad" and bad.value is None


def test_same_change_gives_the_same_event_id() -> None:
    factory = ReadingFactory("ep", DEFAULT_TIME_POLICY)
    first = factory.reading(NODE, _value(1.0), NOW)
    again = factory.reading(NODE, _value(1.0), NOW + timedelta(seconds=5))
    assert isinstance(first, SensorReading) and isinstance(again, SensorReading)
    assert first.event_id == again.event_id


def test_backoff_is_quick_first_then_exponential_capped_and_jittered() -> None:
    rng = random.Random(7)
    backoff = Backoff(initial_s=0.5, max_s=8.0, jitter=0.5, quick_attempts=3)
    for attempt, base in [(1, 0.5), (3, 0.5), (4, 1.0), (5, 2.0), (7, 8.0), (20, 8.0)]:
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(base * 0.5 <= d <= base for d in delays)
        assert max(delays) - min(delays) > base * 0.3  # jittered, not lockstep


def test_endpoint_status_gap_and_ordering() -> None:
    back = EndpointStatus(endpoint="plant", url="opc.tcp://h:4840", state="online", since=NOW,
                          offline_since=NOW - timedelta(seconds=12.5), attempts=3)
    assert back.gap_s == 12.5
    again = EndpointStatus(endpoint="plant", url="opc.tcp://h:4840", state="online", since=NOW,
                           offline_since=NOW - timedelta(seconds=12.5), attempts=3)
    assert again.event_id == back.event_id  # stable id: endpoint, state, since
    offline = EndpointStatus(endpoint="plant", url="opc.tcp://h:4840", state="offline", since=NOW)
    assert offline.gap_s is None
    with pytest.raises(ValidationError, match="offline_since must not be after since"):
        EndpointStatus(endpoint="plant", url="opc.tcp://h:4840", state="online", since=NOW,
                       offline_since=NOW + timedelta(seconds=1))
