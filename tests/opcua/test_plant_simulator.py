"""The connector against the project's plant simulator (simulators/plant), mapped from the demo scenario."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from asyncua import ua

from connectors.opcua.config import SecurityConfig, SubscriptionConfig, config_from_scenario
from millstream.events import SensorReading
from millstream.events.connectivity import EndpointStatus
from millstream.masterdata import Scenario, read_scenario
from simulators.plant.server import PlantServer
from tests.opcua.conftest import collect, start_session
from tests.opcua.servers import cancel_pending

DEMO = Path(__file__).resolve().parents[2] / "scenarios" / "demo.yaml"


class PlantThread:
    """The simulated plant served from a background event loop (the session runs on its own thread)."""

    def __init__(self, scenario: Scenario) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.plant = PlantServer(scenario, port=0, seed=5, speed=1)

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def close(self) -> None:
        self.call(self.plant.stop())
        self.call(cancel_pending())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def plant() -> Iterator[PlantThread]:
    served = PlantThread(read_scenario(DEMO))
    served.call(served.plant.start())
    yield served
    served.close()


def test_subscribes_to_every_demo_machine_and_sees_forced_bad_status(plant: PlantThread, tmp_path: Path) -> None:
    scenario = read_scenario(DEMO)
    config = config_from_scenario(
        scenario, url_override=plant.plant.endpoint,
        security=SecurityConfig(policy="None", mode="None", allow_insecure=True),  # the simulator is None-only
        subscription=SubscriptionConfig(publishing_interval_ms=50, sampling_interval_ms=0))
    ep = config.endpoints[0]
    assert len(ep.nodes) == sum(len(m.opcua.nodes) for m in scenario.machines)
    session = start_session(ep, tmp_path)
    try:
        machines = {m.id for m in scenario.machines}
        items = collect(session, lambda items: {r.machine_id for r in items if isinstance(r, SensorReading)}
                        == machines)
        readings = [r for r in items if isinstance(r, SensorReading)]
        assert {r.tag for r in readings if r.machine_id == "CNC-01"} >= {"spindle_temperature", "vibration_rms"}
        plant.call(plant.plant.set_status("CNC-01", "vibration_rms", ua.StatusCodes.BadSensorFailure))
        items = collect(session, lambda items: any(
            isinstance(r, SensorReading) and r.quality == "bad" and r.tag == "vibration_rms" for r in items),
            into=items)
        bad = next(r for r in items if isinstance(r, SensorReading) and r.quality == "bad")
        assert bad.machine_id == "CNC-01" and bad.status_code == ua.StatusCodes.BadSensorFailure

        plant.call(plant.plant.stop())  # the session reconnects quickly: this stop must not hang on it
        items = collect(session, lambda items: [s.state for s in items if isinstance(s, EndpointStatus)][-1:]
                        == ["offline"], into=items)
        seen = len(items)
        plant.call(plant.plant.start())
        items = collect(session, lambda items: any(isinstance(r, SensorReading) for r in items[seen:]), into=items)
        back = [s for s in items if isinstance(s, EndpointStatus)][-1]
        assert back.state == "online" and back.gap_s is not None and back.gap_s > 0
    finally:
        session.stop()


def test_bridge_command_with_the_demo_scenario(plant: PlantThread, tmp_path: Path) -> None:
    """Every monitored item reports its value first (OPC UA), so the first readings cover every machine."""
    nodes = sum(len(m.opcua.nodes) for m in read_scenario(DEMO).machines)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "millstream"), "bridge", "opcua", "--scenario", str(DEMO),
         "--endpoint", plant.plant.endpoint, "--allow-insecure", "--sink", "stdout", "--count", str(nodes),
         "--duration", "60"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "MILLSTREAM_OPCUA__PKI_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    lines = [orjson.loads(line) for line in result.stdout.splitlines() if line.strip()]
    readings = [line for line in lines if line["type"] == "sensor_reading"]
    assert len(readings) == nodes
    assert {r["machine_id"] for r in readings} == {m.id for m in read_scenario(DEMO).machines}
