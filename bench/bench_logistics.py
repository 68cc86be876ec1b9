"""Logistics throughput: geofence tests against 1,000 fences, and the logistics flow end to end.

**Geofences.** 1,000 fences (circles of 100-800 m, convex polygons, 5-20 km route corridors) scattered over
a 100 x 100 km region; pings uniformly over it (a quarter of them inside some fence). Measured in this one
process, single-threaded, on the same pings:

- ``classify``: :meth:`millstream.logistics.fences.FenceSet.classify` (STRtree + vectorised predicate, fence and
  hysteresis band) — pings/s;
- ``engine``: :meth:`millstream.logistics.engine.GeofenceEngine.run` (classification plus per-vehicle enter/exit/dwell
  state) over 2,000 vehicles driving random walks at ~15 m/s through the same region — pings/s;
- ``loop``: the baseline, a per-point loop calling shapely ``contains`` on every fence (on a subset of the
  pings; its answers are checked against ``classify``'s) — pings/s, and the ratio.

Goal (issue 12): >= 200k pings/s per core with the index and vectorised tests, >= 20x the loop.

**Flow.** A fleet of ``BENCH_LOGISTICS_COPIES`` x the demo scenario's trucks and shipments (one simulated day)
in ``fleet.gps`` on the broker at ``MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS``; a fresh database on
``MILLSTREAM_DATABASE__URL``'s server. In the same run: a bare Bytewax Kafka pass-through (the topic
copied to another topic, no decoding) and ``streams.logistics`` (decode, clean, geofences, shipment state,
ETA, alerts, all tables, outbox) with ``--once``, each timed from start to end of input. Goal: the logistics
flow >= 50 % of the pass-through's pings/s.
"""

from __future__ import annotations

import math
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import bytewax.connectors.kafka.operators as kop
import bytewax.operators as op
import numpy as np
import psycopg
from bytewax.connectors.kafka import KafkaSinkMessage
from bytewax.dataflow import Dataflow
from bytewax.testing import run_main
from psycopg import sql
from shapely.geometry import LineString, Point, Polygon

from connectors.kafka.admin import create_topics
from connectors.kafka.clients import consumer_config, producer_config
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import ALERTS, DLQ, FLEET_GPS, Topic
from connectors.postgres.database import connect
from connectors.postgres.migrations import migrate
from millstream.logistics.engine import GeofenceEngine
from millstream.logistics.fences import Fence, FenceSet
from millstream.masterdata import Scenario, read_scenario
from millstream.settings import Settings, load_settings
from simulators.fleet.simulation import FleetSimulation
from streams.logistics import build_flow

__all__ = ["main"]

FENCES = 1000
PINGS = int(os.environ.get("BENCH_LOGISTICS_PINGS", "400000"))
LOOP_PINGS = int(os.environ.get("BENCH_LOGISTICS_LOOP_PINGS", "1000"))
COPIES = int(os.environ.get("BENCH_LOGISTICS_COPIES", "6"))
LON0, LAT0, SPAN_DEG = -2.6, 53.45, 0.9


def _fences(rng: random.Random) -> list[Fence]:
    fences: list[Fence] = []
    for i in range(FENCES):
        lon, lat = LON0 + rng.random() * SPAN_DEG * 1.6, LAT0 + rng.random() * SPAN_DEG
        kind = i % 3
        if kind == 0:
            fences.append(Fence(f"c{i}", "circle", Point(lon, lat), radius_m=rng.uniform(100, 800)))
        elif kind == 1:
            r = rng.uniform(0.002, 0.01)
            angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(6))
            ring = [(lon + r * 1.6 * math.cos(a), lat + r * math.sin(a)) for a in angles]
            fences.append(Fence(f"p{i}", "polygon", Polygon(ring).convex_hull))
        else:
            pts = [(lon, lat)]
            for _ in range(rng.randint(3, 8)):
                pts.append((pts[-1][0] + rng.uniform(-0.03, 0.03), pts[-1][1] + rng.uniform(-0.02, 0.02)))
            line = LineString(pts)
            fences.append(Fence(f"r{i}", "corridor", line, buffer_m=rng.uniform(50, 200), line_ll=line))
    return fences


def bench_geofences() -> None:
    rng = random.Random(12)
    fence_set = FenceSet(_fences(rng), hysteresis_m=50)
    np_rng = np.random.default_rng(12)
    lon = LON0 + np_rng.random(PINGS) * SPAN_DEG * 1.6
    lat = LAT0 + np_rng.random(PINGS) * SPAN_DEG
    chunk = 65_536
    t = time.perf_counter()
    hits = 0
    for i in range(0, PINGS, chunk):
        pi, _, level = fence_set.classify(lon[i:i + chunk], lat[i:i + chunk])
        hits += int((level == 2).sum())
    classify_rate = PINGS / (time.perf_counter() - t)

    # vehicles driving: 2,000 random walks at ~15 m/s, a fix every 5 s (so fences are entered and left)
    vehicles, steps = 2000, PINGS // 2000
    heading = np_rng.uniform(0, 2 * np.pi, (steps, vehicles)).cumsum(axis=0) * 0.05
    step_m = 75.0
    wlat = LAT0 + np_rng.random(vehicles) * SPAN_DEG + np.cumsum(step_m * np.cos(heading), axis=0) / 111_195.0
    wlon = LON0 + np_rng.random(vehicles) * SPAN_DEG * 1.6 + np.cumsum(step_m * np.sin(heading), axis=0) / (
        111_195.0 * math.cos(math.radians(LAT0)))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    pings = [(f"v{v}", start + timedelta(seconds=5 * k), float(wlon[k, v]), float(wlat[k, v]))
             for k in range(steps) for v in range(vehicles)]
    engine = GeofenceEngine(fence_set)
    t = time.perf_counter()
    events = sum(1 for _ in engine.run(pings))
    engine_rate = len(pings) / (time.perf_counter() - t)

    shapes = list(fence_set.shapes)
    x, y = fence_set.projection.xy_arrays(lon[:LOOP_PINGS], lat[:LOOP_PINGS])
    t = time.perf_counter()
    loop_hits = set()
    for p in range(LOOP_PINGS):
        point = Point(x[p], y[p])
        for f, shape in enumerate(shapes):
            if shape.contains(point):
                loop_hits.add((p, f))
    loop_rate = LOOP_PINGS / (time.perf_counter() - t)
    pi, fi, level = fence_set.classify(lon[:LOOP_PINGS], lat[:LOOP_PINGS])
    assert loop_hits == {(int(p), int(f)) for p, f, lv in zip(pi, fi, level, strict=True) if lv == 2}

    print(f"fences: {FENCES} (circles, polygons, corridors); pings: {PINGS:,} ({hits:,} inside a fence)")
    print(f"classify (STRtree + vectorised): {classify_rate:,.0f} pings/s")
    print(f"engine (classify + enter/exit/dwell state, 2,000 vehicles): {engine_rate:,.0f} pings/s, {events:,} events")
    print(f"baseline per-point shapely contains loop ({LOOP_PINGS:,} pings): {loop_rate:,.0f} pings/s")
    print(f"speed-up: classify {classify_rate / loop_rate:,.0f}x, engine {engine_rate / loop_rate:,.0f}x "
          f"(goal >= 20x; >= 200,000 pings/s)")


def _fleet(copies: int) -> tuple[Scenario, list]:
    base = read_scenario("scenarios/demo.yaml").rebased((datetime.now(UTC) - timedelta(days=1)).replace(
        minute=0, second=0, microsecond=0))
    trucks, shipments = [], []
    for k in range(copies):
        trucks += [t.model_copy(update={"id": f"{t.id}-{k}"}) for t in base.trucks]
        shipments += [s.model_copy(update={"id": f"{s.id}-{k}", "truck_id": f"{s.truck_id}-{k}"})
                      for s in base.shipments]
    scenario = base.model_copy(update={"trucks": trucks, "shipments": shipments})
    pings = [e.event for e in FleetSimulation(scenario, seed=3).timeline() if e.event is not None]
    return scenario, pings


def _passthrough(settings: Settings, source: str, target: str) -> Dataflow:
    flow = Dataflow("passthrough")
    inp = kop.input("in", flow, brokers=[settings.kafka.bootstrap_servers], topics=[source], tail=False,
                    add_config=consumer_config(settings.kafka, "bench-pass"))
    kop.output("out", op.map("msg", inp.oks, lambda m: KafkaSinkMessage(m.key, m.value)),
               brokers=[settings.kafka.bootstrap_servers], topic=target, add_config=producer_config(settings.kafka))
    return flow


def bench_flow() -> None:
    server = load_settings()
    name = f"bench_logistics_{uuid.uuid4().hex[:8]}"
    admin = psycopg.conninfo.make_conninfo(server.database.url.get_secret_value(), dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(server.database.url.get_secret_value(), dbname=name)
    settings = load_settings(database={"url": url}, kafka={**server.kafka.model_dump(),
                                                           "topic_prefix": f"bench{uuid.uuid4().hex[:6]}."})
    try:
        with connect(settings.database) as conn:
            migrate(conn, settings.database)
        scenario, pings = _fleet(COPIES)
        copy = Topic("bench.copy", FLEET_GPS.partitions, "truck_id", timedelta(days=1))
        create_topics(settings.kafka, [FLEET_GPS, DLQ, ALERTS, copy])
        with EventProducer(settings.kafka) as producer:
            for ping in pings:
                producer.send(FLEET_GPS, ping)
        print(f"fleet: {len(scenario.trucks)} trucks, {len(scenario.shipments)} shipments, {len(pings):,} pings "
              f"in {FLEET_GPS.partitions} partitions")
        t = time.perf_counter()
        run_main(_passthrough(settings, FLEET_GPS.full_name(settings.kafka), copy.full_name(settings.kafka)))
        bare = len(pings) / (time.perf_counter() - t)
        t = time.perf_counter()
        run_main(build_flow(settings, scenario, follow=False))
        full = len(pings) / (time.perf_counter() - t)
        print(f"bare Bytewax Kafka pass-through: {bare:,.0f} pings/s")
        print(f"logistics flow end to end (tables, alerts, outbox): {full:,.0f} pings/s = {full / bare:.0%} of the "
              "pass-through (goal >= 50%)")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    bench_geofences()
    bench_flow()


if __name__ == "__main__":
    main()
