"""Simulator throughput: OPC-UA value changes/s of the plant server, GPS pings/s of the fleet into Kafka.

Plant (one process, one asyncio thread = one core), a synthetic plant of ``BENCH_PLANT_MACHINES`` machines
cloned from the demo scenario:
- **baseline**: ``PlantSimulation.advance`` alone (physics + production, no OPC UA) — steps/s;
- **server**: ``PlantServer.tick`` as fast as it goes (physics + writes into the asyncua address space) —
  value changes/s and the ratio of ticks/s to the baseline;
- **subscribed**: the same with an asyncua client in the same process subscribed to every variable
  (it shares the core, so this is pessimistic) — value changes/s and notifications received/s;
- **real time**: ``update_hz`` 10 for ``BENCH_PLANT_SECONDS`` under the timer loop — did it keep up?

Fleet: the demo's shipments repeated over ``BENCH_FLEET_DAYS`` days:
- generation only (timeline built in memory) — pings/s;
- **baseline**: a bare confluent-kafka producer sending the same pre-encoded messages — messages/s;
- **fleet**: a fresh simulation generating while ``play`` (speed 1e9) sends through :class:`EventProducer`
  (generate + validate + encode + send + delivery, end to end) — pings/s and the ratio to the baseline.

Goals (issue 3): plant >= 2,000 value changes/s on one core; fleet >= 5,000 pings/s into Kafka.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asyncua import Client
from confluent_kafka import Producer

from connectors.kafka.admin import create_topics
from connectors.kafka.clients import producer_config
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import FLEET_GPS
from millstream.masterdata import Machine, OpcuaMapping, Scenario, read_scenario
from millstream.serde import encode
from millstream.settings import load_settings
from simulators.clock import SimClock
from simulators.config import PlantParameters
from simulators.fleet.simulation import FleetSimulation
from simulators.groundtruth import GroundTruth
from simulators.plant.server import PlantServer
from simulators.plant.simulation import PlantSimulation
from simulators.timeline import play

__all__ = ["main"]

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "demo.yaml"
MACHINES = int(os.environ.get("BENCH_PLANT_MACHINES", "60"))
PLANT_SECONDS = float(os.environ.get("BENCH_PLANT_SECONDS", "5"))
FLEET_DAYS = int(os.environ.get("BENCH_FLEET_DAYS", "10"))
START = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def _plant(n: int) -> Scenario:
    demo = read_scenario(SCENARIO)
    machines, orders = [], []
    for i in range(n):
        base = demo.machines[i % len(demo.machines)]
        mid = f"M{i:03d}-{base.id}"
        nodes = {tag: f"ns=2;s={mid}.{text.split('.', 1)[1]}" for tag, text in base.opcua.nodes.items()}
        machines.append(Machine.model_validate({**base.model_dump(), "id": mid, "opcua": OpcuaMapping(
            endpoint=base.opcua.endpoint, nodes=nodes)}))
        orders += [o.model_copy(update={"id": f"{mid}-{o.id}", "machine_id": mid})
                   for o in demo.production_orders if o.machine_id == base.id]
    return demo.model_copy(update={"machines": machines, "production_orders": orders})


def _plant_baseline(scenario: Scenario, seconds: float) -> float:
    sim = PlantSimulation(scenario.rebased(START), seed=1)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        steps += 1
        sim.advance(START + timedelta(seconds=steps * 0.1), 0.1)
    return steps / (time.perf_counter() - t0)


async def _plant_server(scenario: Scenario, seconds: float, subscribe: bool) -> tuple[float, float, float]:
    plant = PlantServer(scenario, port=0, seed=1, speed=1.0, start=START, params=PlantParameters(update_hz=10))
    await plant.start()
    received = 0

    class Handler:
        def datachange_notification(self, node: object, val: object, data: object) -> None:
            nonlocal received
            received += 1

    client = None
    try:
        if subscribe:
            client = Client(plant.endpoint)
            await client.connect()
            subscription = await client.create_subscription(100, Handler())
            nodes = [client.get_node(text) for m in scenario.machines for text in m.opcua.nodes.values()]
            await subscription.subscribe_data_change(nodes, queuesize=1000)
            await asyncio.sleep(0.5)
            received = 0
        changes0, ticks, t0 = plant.value_changes, 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            await plant.tick()
            ticks += 1
            if ticks % 5 == 0:
                await asyncio.sleep(0)  # let the server publish notifications
        elapsed = time.perf_counter() - t0
        if subscribe:
            await asyncio.sleep(0.5)
        return ticks / elapsed, (plant.value_changes - changes0) / elapsed, received / elapsed
    finally:
        if client is not None:
            await client.disconnect()
        await plant.stop()


async def _plant_real_time(scenario: Scenario, seconds: float) -> tuple[float, int, int]:
    params = PlantParameters(update_hz=10)
    async with PlantServer(scenario, port=0, seed=1, speed=1.0, params=params) as plant:
        changes0, ticks0 = plant.value_changes, plant.ticks
        await asyncio.sleep(seconds)
        return (plant.value_changes - changes0) / seconds, plant.ticks - ticks0, int(seconds * params.update_hz)


def bench_plant() -> None:
    scenario = _plant(MACHINES)
    variables = sum(len(m.opcua.nodes) for m in scenario.machines)
    print(f"plant: {MACHINES} machines, {variables} variables")
    baseline = _plant_baseline(scenario, PLANT_SECONDS)
    print(f"  baseline   simulation only: {baseline:10.1f} steps/s")
    ticks, changes, _ = asyncio.run(_plant_server(scenario, PLANT_SECONDS, subscribe=False))
    print(f"  server     no client      : {ticks:10.1f} ticks/s  {changes:10.0f} value changes/s  "
          f"(ticks/s = {ticks / baseline:.2f} x baseline)")
    ticks, changes, notes = asyncio.run(_plant_server(scenario, PLANT_SECONDS, subscribe=True))
    print(f"  subscribed same-process client: {ticks:6.1f} ticks/s  {changes:10.0f} value changes/s  "
          f"{notes:10.0f} notifications/s received")
    rate, done, due = asyncio.run(_plant_real_time(scenario, PLANT_SECONDS))
    print(f"  real time  10 Hz x {MACHINES} machines: {rate:10.0f} value changes/s, {done}/{due} ticks on time")


def bench_fleet() -> None:
    settings = load_settings(kafka={"topic_prefix": f"bench{uuid.uuid4().hex[:6]}."})
    create_topics(settings.kafka, [FLEET_GPS])
    scenario = read_scenario(SCENARIO).rebased(START)
    t0 = time.perf_counter()
    sim = FleetSimulation(scenario, seed=1, days=FLEET_DAYS)
    timeline = list(sim.timeline())
    pings = [e.event for e in timeline if e.event is not None]
    generated = len(pings) / (time.perf_counter() - t0)
    print(f"fleet: {len(scenario.shipments)} shipments x {FLEET_DAYS} days = {len(pings)} pings")
    print(f"  generation only           : {generated:10.0f} pings/s")

    name = FLEET_GPS.full_name(settings.kafka)
    payloads = [(p.truck_id.encode(), encode(p)) for p in pings]
    producer = Producer(producer_config(settings.kafka))
    t0 = time.perf_counter()
    for key, value in payloads:
        while True:
            try:
                producer.produce(name, value=value, key=key)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(60)
    baseline = len(payloads) / (time.perf_counter() - t0)
    print(f"  baseline   raw producer   : {baseline:10.0f} messages/s")

    events = EventProducer(settings.kafka)
    stop = asyncio.Event()

    async def go() -> None:  # end to end: a fresh simulation generates while it publishes
        fresh = FleetSimulation(scenario, seed=1, days=FLEET_DAYS)
        await play(fresh.timeline(), SimClock(START, 1e9), lambda e: events.send(FLEET_GPS, e), GroundTruth(), stop)

    t0 = time.perf_counter()
    asyncio.run(go())
    left = events.flush(60)
    rate = events.delivered / (time.perf_counter() - t0)
    print(f"  fleet      generate + play + EventProducer: {rate:8.0f} pings/s delivered={events.delivered} "
          f"failed={events.failed} undelivered={left} ({rate / baseline:.2f} x baseline)")


def main() -> None:
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    bench_plant()
    bench_fleet()


if __name__ == "__main__":
    main()
