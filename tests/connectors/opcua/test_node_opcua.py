"""The connector against another vendor's stack: node-opcua's sample server (Node.js, from npm)."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import signal
import warnings
from itertools import pairwise
from pathlib import Path

import pytest
from asyncua import Client, ua

from connectors.opcua.browse import browse_tree
from millstream.events import DeadLetter, SensorReading
from millstream.events.connectivity import EndpointStatus
from tests.helpers.net import free_port
from tests.helpers.opcua import collect, endpoint, start_session
from tests.helpers.opcua_servers import NodeOpcuaServer

pytestmark = pytest.mark.opcua

FAST = {"publishing_interval_ms": 100, "sampling_interval_ms": 50}
SAMPLE_NODES = [{"node_id": "ns=1;s=Temperature", "machine_id": "SAMPLE", "tag": "temperature"},
                {"node_id": "ns=1;s=PumpSpeed", "machine_id": "SAMPLE", "tag": "pump_speed"},
                {"node_id": "ns=1;s=FanSpeed", "machine_id": "SAMPLE", "tag": "fan_speed"}]
STATIC_DOUBLE = "ns=3;s=Scalar_Static_Double"


def _readings(items: list, tag: str | None = None) -> list[SensorReading]:
    return [i for i in items if isinstance(i, SensorReading) and (tag is None or i.tag == tag)]


def _write(url: str, node_id: str, value: float, status: int) -> None:
    async def write() -> None:
        async with Client(url) as client:
            item = ua.WriteValue()
            item.NodeId = ua.NodeId.from_string(node_id)
            item.AttributeId = ua.AttributeIds.Value
            item.Value = ua.DataValue(ua.Variant(value, ua.VariantType.Double), ua.StatusCode(status))
            params = ua.WriteParameters()
            params.NodesToWrite = [item]
            results = await client.uaclient.write(params)
            results[0].check()

    asyncio.run(write())


def test_subscribes_to_the_sample_servers_variables(node_opcua: NodeOpcuaServer, tmp_path: Path) -> None:
    ep = endpoint(node_opcua.url, SAMPLE_NODES, subscription=FAST)
    session = start_session(ep, tmp_path)
    try:
        items = collect(session, lambda items: {r.tag for r in _readings(items)} == {
            "temperature", "pump_speed", "fan_speed"} and len(_readings(items, "fan_speed")) >= 3)
        fan = _readings(items, "fan_speed")
        assert all(950 <= r.value <= 1050 for r in fan)  # type: ignore[operator]
        assert len({r.event_id for r in fan}) == len(fan)
        assert all(r.quality == "good" and r.node_id == "ns=1;s=FanSpeed" for r in fan)
    finally:
        session.stop()


def test_username_login_and_unknown_node(node_opcua: NodeOpcuaServer, tmp_path: Path) -> None:
    ep = endpoint(node_opcua.url, [*SAMPLE_NODES[:1],
                                   {"node_id": "ns=1;s=NoSuchTag", "machine_id": "SAMPLE", "tag": "ghost"}],
                  identity={"type": "username", "username": "user1", "password": "password1"}, subscription=FAST)
    session = start_session(ep, tmp_path)
    try:
        items = collect(session, lambda items: bool(_readings(items))
                        and any(isinstance(i, DeadLetter) for i in items))
        letter = next(i for i in items if isinstance(i, DeadLetter))
        assert "ns=1;s=NoSuchTag" in letter.reason and "BadNodeIdUnknown" in letter.reason
    finally:
        session.stop()


def test_bad_and_uncertain_status_codes_propagate(node_opcua: NodeOpcuaServer, tmp_path: Path) -> None:
    _write(node_opcua.url, STATIC_DOUBLE, 1.0, ua.StatusCodes.Good)
    ep = endpoint(node_opcua.url, [{"node_id": STATIC_DOUBLE, "machine_id": "SAMPLE", "tag": "static"}],
                  subscription=FAST)
    session = start_session(ep, tmp_path)
    try:
        items = collect(session, lambda items: bool(_readings(items)))
        _write(node_opcua.url, STATIC_DOUBLE, 2.0, ua.StatusCodes.UncertainLastUsableValue)
        items = collect(session, lambda items: any(r.quality == "uncertain" for r in _readings(items)), into=items)
        _write(node_opcua.url, STATIC_DOUBLE, 3.0, ua.StatusCodes.BadSensorFailure)
        items = collect(session, lambda items: any(r.quality == "bad" for r in _readings(items)), into=items)
        by_quality = {r.quality: r for r in _readings(items)}
        assert by_quality["uncertain"].value == 2.0
        assert by_quality["bad"].status_code == ua.StatusCodes.BadSensorFailure
    finally:
        session.stop()


def test_secured_endpoint_with_certificates(node_opcua: NodeOpcuaServer, pki: Path) -> None:
    shutil.copy(node_opcua.certificate, pki / "trusted" / "node-opcua.pem")
    ep = endpoint(node_opcua.url, SAMPLE_NODES[:1], subscription=FAST,
                  security={"policy": "Basic256Sha256", "mode": "SignAndEncrypt"},
                  identity={"type": "username", "username": "user1", "password": "password1"})
    session = start_session(ep, pki)
    try:
        items = collect(session, lambda items: bool(_readings(items)))
        assert _readings(items)[0].machine_id == "SAMPLE"
    finally:
        session.stop()


def _started_without_leaking_its_log(server: NodeOpcuaServer) -> NodeOpcuaServer:
    """``server.start()``, asserting that the log file it hands the child is closed here (no ResourceWarning
    about an unclosed file when the handle is collected)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        server.start()
        gc.collect()
    unclosed = [w for w in caught if issubclass(w.category, ResourceWarning) and str(server.log) in str(w.message)]
    assert not unclosed, unclosed
    return server


def test_restart_of_the_node_opcua_server(node_opcua_home: Path, tmp_path: Path) -> None:
    server = _started_without_leaking_its_log(NodeOpcuaServer(node_opcua_home, port=free_port()))
    ep = endpoint(server.url, SAMPLE_NODES[2:], subscription=FAST)
    session = start_session(ep, tmp_path)
    try:
        items = collect(session, lambda items: bool(_readings(items)))
        server.stop()
        items = collect(session, lambda items: [s.state for s in items if isinstance(s, EndpointStatus)]
                        == ["online", "offline"], into=items)
        count_at_loss = len(_readings(items))
        _started_without_leaking_its_log(server)
        items = collect(session, lambda items: len(_readings(items)) > count_at_loss + 3, into=items)
        online = [s for s in items if isinstance(s, EndpointStatus)][-1]
        assert online.state == "online" and online.gap_s is not None and online.gap_s > 0
    finally:
        session.stop()
        server.stop()


def test_browse_lists_the_sample_variables_with_data_types(node_opcua: NodeOpcuaServer) -> None:
    async def browse() -> list:
        async with Client(node_opcua.url) as client:
            return await browse_tree(client, ua.NodeId(1000, 1), depth=1)

    nodes = {n.node_id: n for n in asyncio.run(browse())}
    assert nodes["ns=1;s=FanSpeed"].data_type == "Double"
    assert nodes["ns=1;s=FanSpeed"].node_class == "Variable" and nodes["ns=1;s=FanSpeed"].browse_name == "1:FanSpeed"


def test_frozen_server_is_detected_by_keep_alive(node_opcua_home: Path, tmp_path: Path) -> None:
    """SIGSTOP keeps the socket open but silent: only the keep-alive watchdog can notice."""
    server = NodeOpcuaServer(node_opcua_home, port=free_port()).start()
    assert server.process is not None
    ep = endpoint(server.url, SAMPLE_NODES[2:], subscription=FAST, watchdog_interval_s=0.5)
    session = start_session(ep, tmp_path)
    try:
        items = collect(session, lambda items: bool(_readings(items)))
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            items = collect(session, lambda items: any(
                isinstance(s, EndpointStatus) and s.state == "offline" for s in items), into=items)
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        seen = len(items)
        items = collect(session, lambda items: bool(_readings(items[seen:])), into=items)
        states = [s.state for s in items if isinstance(s, EndpointStatus)]
        # a loaded machine may add a spurious round trip, but the states always alternate and end online
        assert states[0] == "online" and "offline" in states and states[-1] == "online"
        assert all(a != b for a, b in pairwise(states))
    finally:
        session.stop()
        server.stop()


def test_deadband_reduces_traffic_from_node_opcua(node_opcua: NodeOpcuaServer, tmp_path: Path) -> None:
    """TemperatureAnalogItem: a new random value in 19..20 at every sample. Three sessions watch it at once;
    the one without deadband sets the pace (20 values). Over that same period an absolute deadband of 5 keeps
    only the first value. A percent deadband is accepted (no dead letter) but keeps reporting: the values lie
    below the item's EURange 100..200, and a value at or beyond a limit is always reported (by node-opcua,
    and by the connector's own percent check alike)."""
    node = [{"node_id": "ns=1;s=TemperatureAnalogItem", "machine_id": "SAMPLE", "tag": "analog"}]
    deadbands: dict[str, dict[str, object] | None] = {
        "none": None, "absolute": {"type": "absolute", "value": 5.0}, "percent": {"type": "percent", "value": 5.0}}
    sessions = {}
    try:
        for name, deadband in deadbands.items():
            sub: dict[str, object] = {**FAST, "queue_size": 50}
            if deadband:
                sub["deadband"] = deadband
            sessions[name] = start_session(endpoint(node_opcua.url, node, name=name, subscription=sub), tmp_path)
        seen = {name: collect(session, lambda items: bool(_readings(items))) for name, session in sessions.items()}
        collect(sessions["none"], lambda items: len(_readings(items)) >= 20, into=seen["none"])
        collect(sessions["percent"], lambda items: len(_readings(items)) >= 10, into=seen["percent"])
        seen["absolute"].extend(sessions["absolute"].drain())
        assert not any(isinstance(i, DeadLetter) for items in seen.values() for i in items)
        assert len(_readings(seen["absolute"])) == 1
    finally:
        for session in sessions.values():
            session.stop()
