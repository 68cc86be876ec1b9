"""The plant over real OPC UA: a separate asyncua client browses, reads and subscribes to every variable."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asyncua import Client, Node, Server, ua

from millstream.masterdata import Scenario, read_scenario
from simulators.config import PlantParameters
from simulators.plant.server import PlantServer, stop_server
from simulators.plant.simulation import PlantSimulation
from tests.helpers.net import free_port
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.opcua

START = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
ANALOG = {"spindle_temperature", "vibration_rms", "motor_current", "spindle_speed"}


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return read_scenario(ROOT / "scenarios" / "demo.yaml")


class _Collector:
    def __init__(self) -> None:
        self.changes: dict[str, list[ua.DataValue]] = {}

    def datachange_notification(self, node: Node, val: Any, data: Any) -> None:
        self.changes.setdefault(node.nodeid.to_string(), []).append(data.monitored_item.Value)


async def _wait_for(predicate, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def test_client_browses_the_address_space_and_subscribes_to_every_variable(scenario: Scenario) -> None:
    async def scenario_run() -> None:
        async with PlantServer(scenario, port=0, seed=1, speed=60, start=START,
                               params=PlantParameters(update_hz=10)) as plant, Client(plant.endpoint) as client:
            assert await client.get_namespace_index("urn:millstream:plant") == 2
            objects = await client.nodes.objects.get_children()
            names = {(await o.read_browse_name()).Name: o for o in objects}
            assert {m.id for m in scenario.machines} <= set(names)
            variables: list[Node] = []
            for machine in scenario.machines:
                children = await names[machine.id].get_children()
                served = {c.nodeid.to_string() for c in children}
                assert served == set(machine.opcua.nodes.values())
                variables += children
                for tag, text in machine.opcua.nodes.items():
                    node = client.get_node(text)
                    if tag in ANALOG:
                        assert await node.read_type_definition() == ua.NodeId(ua.ObjectIds.AnalogItemType)
                        eu = await (await node.get_child("0:EngineeringUnits")).read_value()
                        rng = await (await node.get_child("0:EURange")).read_value()
                        assert eu.NamespaceUri == "http://www.opcfoundation.org/UA/units/un/cefact"
                        assert rng.High > rng.Low
            unit = await (await client.get_node("ns=2;s=CNC-01.SpindleTemperature").get_child(
                "0:EngineeringUnits")).read_value()
            assert unit.DisplayName.Text == "°C"
            collector = _Collector()
            subscription = await client.create_subscription(50, collector)
            await subscription.subscribe_data_change(variables)
            await _wait_for(lambda: len(collector.changes) == len(variables))
            analog = [n.nodeid.to_string() for n in variables if n.nodeid.Identifier.split(".")[1] in
                      {"SpindleTemperature", "VibrationRms", "MotorCurrent"}]
            await _wait_for(lambda: all(len(collector.changes[a]) >= 3 for a in analog))
            temps = collector.changes["ns=2;s=CNC-01.SpindleTemperature"]
            assert len({dv.Value.Value for dv in temps}) >= 3
            stamps = [dv.SourceTimestamp for dv in temps]
            assert stamps == sorted(stamps) and stamps[-1] > START
            state = await client.get_node("ns=2;s=CNC-01.State").read_value()
            assert state in {"running", "idle", "down", "maintenance"}
            assert await client.get_node("ns=2;s=CNC-01.ActiveOrder").read_value() == "PO-1001"
            await subscription.delete()

    asyncio.run(scenario_run())


def test_served_values_are_the_deterministic_simulation(scenario: Scenario) -> None:
    expected = PlantSimulation(scenario.rebased(START), seed=11)
    expected.advance(START, 0.0)

    async def scenario_run() -> None:
        plant = PlantServer(scenario, port=0, seed=11, speed=30, start=START)
        await plant.start()
        try:
            async with Client(plant.endpoint) as client:
                for k in range(1, 6):
                    await plant.tick()
                    values = expected.advance(START + timedelta(seconds=k * plant.dt_s), plant.dt_s)
                    for tag, text in scenario.machines[2].opcua.nodes.items():
                        dv = await client.get_node(text).read_data_value()
                        assert dv.Value.Value == values[scenario.machines[2].id][tag], tag
                        if tag in ANALOG:  # they change every step; unchanged values keep their timestamp
                            assert dv.SourceTimestamp == plant.sim_time
        finally:
            await plant.stop()

    asyncio.run(scenario_run())


def test_forced_bad_status_reaches_subscribers_and_clears(scenario: Scenario) -> None:
    async def scenario_run() -> None:
        async with PlantServer(scenario, port=0, seed=2, speed=10, start=START,
                               params=PlantParameters(update_hz=10)) as plant, Client(plant.endpoint) as client:
            node = client.get_node("ns=2;s=MILL-01.VibrationRms")
            collector = _Collector()
            subscription = await client.create_subscription(20, collector)
            await subscription.subscribe_data_change([node])
            key = node.nodeid.to_string()
            await _wait_for(lambda: len(collector.changes.get(key, [])) >= 2)
            await plant.set_status("MILL-01", "vibration_rms", ua.StatusCodes.BadSensorFailure)
            await _wait_for(lambda: collector.changes[key][-1].StatusCode.value == ua.StatusCodes.BadSensorFailure)
            assert collector.changes[key][-1].Value.Value is None
            await plant.clear("MILL-01", "vibration_rms")
            await _wait_for(lambda: collector.changes[key][-1].StatusCode.is_good())
            assert isinstance(collector.changes[key][-1].Value.Value, float)
            await plant.set_value("MILL-01", "vibration_rms", 42.5, ua.StatusCodes.UncertainLastUsableValue)
            await _wait_for(lambda: collector.changes[key][-1].Value.Value == 42.5)

    asyncio.run(scenario_run())


def test_restart_on_the_same_port(scenario: Scenario) -> None:
    async def scenario_run() -> None:
        async with PlantServer(scenario, port=0, seed=3, speed=60, start=START) as plant:
            endpoint = plant.endpoint
            async with Client(endpoint) as client:
                before = await client.get_node("ns=2;s=CNC-01.GoodParts").read_value()
            await plant.stop()
            with pytest.raises((OSError, asyncio.TimeoutError, ua.UaError)):
                async with Client(endpoint, timeout=1):
                    pass
            await asyncio.sleep(1.0)
            await plant.start()
            assert plant.endpoint == endpoint
            async with Client(endpoint) as client:
                after = await client.get_node("ns=2;s=CNC-01.GoodParts").read_value()
                assert await client.get_node("ns=2;s=CNC-01.ActiveOrder").read_value() == "PO-1001"
            assert after >= before

    asyncio.run(scenario_run())


@pytest.mark.subprocess
def test_cli_simulate_plant_serves_a_browsable_address_space(tmp_path) -> None:
    port = free_port()
    truth = tmp_path / "truth.jsonl"
    cli = os.path.join(os.path.dirname(sys.executable), "millstream")
    proc = subprocess.Popen([cli, "simulate", "plant", "--duration", "10", "--speed", "10", "--port", str(port),
                             "--ground-truth", str(truth)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)

    async def browse() -> list[str]:
        deadline = time.monotonic() + 20
        while True:
            try:
                async with Client(f"opc.tcp://127.0.0.1:{port}/millstream/plant", timeout=2) as client:
                    machines = await client.nodes.objects.get_children()
                    names = [(await m.read_browse_name()).Name for m in machines]
                    speed = await client.get_node("ns=2;s=CNC-01.SpindleSpeed").read_value()
                    assert speed > 0
                    return names
            except (TimeoutError, OSError):
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                await asyncio.sleep(0.3)

    try:
        names = asyncio.run(browse())
        assert {"CNC-01", "CNC-02", "MILL-01", "MILL-02", "ASSY-01", "ASSY-02"} <= set(names)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    kinds = [line for line in truth.read_text().splitlines() if '"order_started"' in line]
    assert len(kinds) == 6


def test_stop_server_strict_raises_a_failing_stop_and_lenient_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    async def failing_stop_run(strict: bool) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{free_port()}/stop-test")
        await server.start()
        real_stop = server.stop

        async def stop_then_fail() -> None:  # the real stop runs; then it fails like a broken shutdown would
            await real_stop()
            raise RuntimeError("stop failed")

        server.stop = stop_then_fail  # type: ignore[method-assign]
        await stop_server(server, 5.0, strict=strict)

    with pytest.raises(RuntimeError, match="stop failed"):
        asyncio.run(failing_stop_run(strict=True))
    with caplog.at_level("WARNING", logger="simulators.plant.server"):
        asyncio.run(failing_stop_run(strict=False))
    assert "stop failed" in caplog.text


def test_stop_server_strict_raises_on_timeout_after_awaiting_the_cancelled_stop() -> None:
    async def hanging_stop_run() -> None:
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{free_port()}/stop-test")
        await server.start()
        real_stop = server.stop
        cancelled = asyncio.Event()

        async def hanging_stop() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        server.stop = hanging_stop  # type: ignore[method-assign]
        try:
            with pytest.raises(TimeoutError, match="did not finish"):
                await stop_server(server, 0.2, strict=True)
            assert cancelled.is_set()  # awaited: the cancellation has run to completion, not just been requested
        finally:
            await real_stop()

    asyncio.run(hanging_stop_run())
