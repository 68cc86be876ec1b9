"""The connector against the project's plant simulator (simulators/plant), mapped from the demo scenario; the part
counters read from a plant that ran before the bridge subscribed."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Coroutine, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from asyncua import ua

from connectors.opcua.config import SecurityConfig, SubscriptionConfig, config_from_scenario
from millstream.events import DeadLetter, SensorReading
from millstream.events.base import utc_now
from millstream.events.connectivity import EndpointStatus
from millstream.inventory.counters import COUNTER_TAGS, CounterTracker, ProductionDelta
from millstream.masterdata import Scenario, read_scenario
from simulators.plant.server import PlantServer
from tests.helpers.opcua import collect, endpoint, start_session
from tests.helpers.opcua_servers import cancel_pending
from tests.helpers.paths import DEMO


class PlantThread:
    """The simulated plant served from a background event loop (the session runs on its own thread)."""

    def __init__(self, scenario: Scenario, *, speed: float = 1, start: datetime | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.plant = PlantServer(scenario, port=0, seed=5, speed=speed, start=start)

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


@pytest.mark.subprocess
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
    readings = [line for line in lines if "tag" in line]
    assert len(readings) == nodes
    assert {r["machine_id"] for r in readings} == {m.id for m in read_scenario(DEMO).machines}


ANALOG = {"spindle_temperature": (-20.0, 150.0), "vibration_rms": (0.0, 50.0), "motor_current": (0.0, 200.0),
          "spindle_speed": (0.0, 30000.0)}  # the simulator's EURanges (simulators/plant/address_space.py)


def _within_percent_deadband(values: list[float], percent: float, low: float, high: float) -> list[float]:
    """The test's own statement of the Part 8 rule: report when the change since the last reported value
    exceeds percent of the EURange, or when the value is at or beyond a limit."""
    kept = values[:1]
    for value in values[1:]:
        if value <= low or value >= high or abs(value - kept[-1]) > percent / 100 * (high - low):
            kept.append(value)
    return kept


def test_percent_deadband_reduces_traffic_from_the_plant(plant: PlantThread, tmp_path: Path) -> None:
    """The same 40 simulation ticks (no timer: PlantServer.tick) seen by two sessions at once, one without
    deadband and one with 1 % of each analog tag's EURange: the second gets exactly what the rule keeps of
    the first's sequence, a fraction of it. (asyncua's server accepts a percent filter but does not apply
    it; the connector does, see connectors/opcua/deadband.py.)"""
    machine = next(m for m in read_scenario(DEMO).machines if m.id == "CNC-01")
    nodes = [{"node_id": machine.opcua.nodes[tag], "machine_id": "CNC-01", "tag": tag} for tag in ANALOG]
    sub: dict[str, object] = {"publishing_interval_ms": 50, "sampling_interval_ms": 0, "queue_size": 1000}
    url = plant.plant.endpoint
    every = start_session(endpoint(url, nodes, name="every", subscription=sub), tmp_path)
    percent = start_session(endpoint(url, nodes, name="percent",
                                     subscription={**sub, "deadband": {"type": "percent", "value": 1.0}}), tmp_path)

    def values(items: list, tag: str) -> list[float]:
        return [r.value for r in items if isinstance(r, SensorReading) and r.tag == tag]

    def all_tags(items: list) -> bool:
        return all(values(items, tag) for tag in ANALOG)

    def marker(items: list) -> bool:
        return 140.0 in values(items, "spindle_temperature")

    try:
        seen_every, seen_percent = collect(every, all_tags), collect(percent, all_tags)

        async def ticks() -> None:
            for _ in range(40):
                await plant.plant.tick()
            await plant.plant.set_value("CNC-01", "spindle_temperature", 140.0)

        plant.call(ticks())
        collect(every, marker, into=seen_every)
        collect(percent, marker, into=seen_percent)
        assert not any(isinstance(i, DeadLetter) for i in seen_every + seen_percent)
        total_every = total_percent = 0
        for tag, (low, high) in ANALOG.items():
            full, filtered = values(seen_every, tag), values(seen_percent, tag)
            assert filtered == _within_percent_deadband(full, 1.0, low, high), tag
            total_every, total_percent = total_every + len(full), total_percent + len(filtered)
        assert total_every >= 4 * 30  # (nearly) every tick changes every analog value
        assert total_percent * 4 <= total_every
    finally:
        every.stop()
        percent.stop()


def test_plant_stop_is_not_held_up_by_a_connection_arriving_while_it_stops(plant: PlantThread) -> None:
    """A client connecting while the server stops (a quick reconnect) must not keep PlantServer.stop waiting:
    the connection is made (kernel handshake) while the plant's event loop is busy, so the server accepts it
    only once stopping has begun."""
    async def connect_then_stop() -> None:
        late = socket.create_connection(("127.0.0.1", plant.plant.port))  # blocking: the loop has not accepted
        try:
            await asyncio.wait_for(plant.plant.stop(), timeout=20)
        finally:
            late.close()

    plant.call(connect_then_stop())
    assert not plant.plant.running
    plant.call(plant.plant.start())  # and it serves again on the same port
    assert plant.plant.running


def test_counters_read_from_the_plant_after_it_started_book_every_part_made(tmp_path: Path) -> None:
    """As in ``millstream up``, the plant runs before the bridge subscribes: the first values carry each tag's
    last-change time and every machine's first order is under way. The counters still book every part made."""
    scenario = read_scenario(DEMO)
    served = PlantThread(scenario, speed=60, start=utc_now().replace(microsecond=0) - timedelta(hours=3))
    plant = served.plant  # 30 simulated seconds a tick, ticked by the test
    served.call(plant.start())
    try:
        for _ in range(40):  # 20 minutes of production before the bridge subscribes
            served.call(plant.tick())
        config = config_from_scenario(
            scenario, url_override=plant.endpoint, security=SecurityConfig(policy="None", mode="None",
                                                                           allow_insecure=True),
            subscription=SubscriptionConfig(publishing_interval_ms=50, sampling_interval_ms=0, queue_size=100))
        ep = config.endpoints[0].model_copy(update={"nodes": [n for n in config.endpoints[0].nodes
                                                              if n.tag in COUNTER_TAGS]})
        wanted = {(n.machine_id, n.tag) for n in ep.nodes}
        assert {tag for _, tag in wanted} == COUNTER_TAGS
        session = start_session(ep, tmp_path)
        try:
            items = collect(session, lambda items: {(r.machine_id, r.tag) for r in items
                                                    if isinstance(r, SensorReading)} >= wanted)
            for _ in range(40):
                served.call(plant.tick())
                time.sleep(0.05)

            def current(items: list) -> bool:
                latest = {(r.machine_id, r.tag): r.value for r in items if isinstance(r, SensorReading)}
                return all(latest[(m, tag)] == sim.values()[tag] for m, sim in plant.simulation.machines.items()
                           for tag in COUNTER_TAGS)
            items = collect(session, current, into=items)
        finally:
            session.stop()
    finally:
        served.close()
    end = plant.sim_time
    readings = [r for r in items if isinstance(r, SensorReading)]
    assert min(r.source_timestamp for r in readings if r.tag == "good_parts") > plant.start_time
    orders = {o.id: o for o in plant.simulation.scenario.production_orders}
    machines = {m.id: m for m in scenario.machines}
    trackers: dict[str, CounterTracker] = defaultdict(CounterTracker)
    booked: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    out = []
    for r in readings:
        out += trackers[r.machine_id].push(r, machines[r.machine_id], orders)
    for machine_id, tracker in trackers.items():
        out += tracker.flush(machines[machine_id], orders)
    assert [p for p in out if not isinstance(p, ProductionDelta)] == []
    for delta in out:
        booked[delta.order_id][0] += delta.good
        booked[delta.order_id][1] += delta.scrap
    made: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    first_made = {}
    for fact in plant.truth:
        if fact.kind == "part_made" and fact.time <= end:
            made[fact.details["order_id"]][1 if fact.details["scrap"] else 0] += 1
            first_made.setdefault(fact.subject, fact.time)
    assert len(first_made) == len(machines) and all(t < min(r.source_timestamp for r in readings
                                                           if r.machine_id == m and r.tag == "good_parts")
                                                      for m, t in first_made.items())
    assert dict(booked) == dict(made)
