"""Maintenance scoring throughput, micro-batched vs per item, and the maintenance flow vs a bare Kafka pass-through.

Setup: a quick plant model trained here on offline run-to-failure histories (lathe, mill, assembly), and
windows cut from other histories. Predicts run on one thread (``threadpool_limits(1)``), so CPU time is one core.

Measured, in the same run:
- **scoring**: windows/s of the feature computation + the model's predicts (regressor, classifier, interval,
  anomaly, contributions) on batches of ``BATCH`` windows vs the same windows one at a time; and the same
  through :func:`models.scoring.score_batch` (which also builds the ``MaintenanceScore`` events
  with their stable ids); wall time and per CPU second;
- **flow**: the sensor readings of the six demo machines, each living ``LIVES`` lives to failure, on one
  topic, read to the end (1) by a bare Bytewax Kafka input into a counting sink and (2) by the maintenance
  flow (windows, scores, alerts, ERP outbox into a fresh PostgreSQL database); readings/s of each and the
  ratio flow / bare.

Goals (issue 10): >= 50,000 windows/s per core micro-batched; the flow >= 50 % of the bare pass-through.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bytewax.connectors.kafka.operators as kop
import bytewax.operators as op
import psycopg
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import run_main
from psycopg import sql
from threadpoolctl import threadpool_limits

from connectors.kafka.admin import create_topics
from connectors.kafka.clients import consumer_config
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import ALERTS, DLQ, TELEMETRY_READINGS
from connectors.postgres.database import connect
from connectors.postgres.masterdata import load_scenario
from connectors.postgres.migrations import migrate
from millstream.events import SensorReading
from millstream.maintenance.windows import MachineWindows, WindowRequest
from millstream.masterdata import read_scenario
from millstream.settings import load_settings
from models.artifact import Registry, save_model
from models.datasets import PLANT, load_plant
from models.scoring import ModelHolder, features_for, score_batch
from models.training import TrainOptions, train
from simulators.plant.offline import run_to_failure, write_histories
from streams.kafka_io import read_events
from streams.maintenance import build_flow

__all__ = ["main"]

WINDOWS = int(os.environ.get("BENCH_MAINT_WINDOWS", "20000"))
SINGLE = int(os.environ.get("BENCH_MAINT_SINGLE", "500"))
BATCH = int(os.environ.get("BENCH_MAINT_BATCH", "512"))
LIVES = int(os.environ.get("BENCH_MAINT_LIVES", "8"))
DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo.yaml"
MACHINES = {"CNC-01": "lathe", "CNC-02": "lathe", "MILL-01": "mill", "MILL-02": "mill", "ASSY-01": "assembly",
            "ASSY-02": "assembly"}


def _registry(tmp: Path) -> Registry:
    data = tmp / "train.csv"
    write_histories(iter([*run_to_failure(12, seed=21, kind="lathe"), *run_to_failure(12, seed=22, kind="mill"),
                          *run_to_failure(12, seed=23, kind="assembly")]), data)
    result = train(load_plant(data), TrainOptions(search=1, folds=3, max_iter=100, importance_rows=500))
    save_model(result.model, tmp / "model", dataset_hash="bench", metrics=result.metrics, source=str(data))
    registry = Registry(tmp / "registry")
    registry.promote(tmp / "model")
    return registry


def _requests(n: int) -> list[WindowRequest]:
    rows = list(run_to_failure(8, seed=99, kind="lathe"))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    windows = MachineWindows("CNC-01", "lathe", PLANT.signals, 60.0, PLANT.window, 0.0, 0.0)
    out: list[WindowRequest] = []
    for row in rows:
        at = t0 + timedelta(seconds=row.time_s + 30)
        for tag in PLANT.signals:
            reading = SensorReading.model_validate({"machine_id": "CNC-01", "tag": tag, "value": getattr(row, tag),
                                                    "source_timestamp": at}, context={"time_policy": None})
            out += windows.on_reading(reading)
    return [out[i % len(out)] for i in range(n)]


def _scoring(holder: ModelHolder) -> None:
    requests = _requests(WINDOWS)
    current = holder.current()
    assert current is not None
    model = current[0]
    score_batch(holder, requests[:BATCH], PLANT.signals)  # warm up

    def rate(batch: int, n: int, full: bool) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        with threadpool_limits(1):
            for i in range(0, n, batch):
                chunk = requests[i:i + batch]
                if full:
                    score_batch(holder, chunk, PLANT.signals)
                else:
                    model.score(features_for(model, chunk, PLANT.signals)[0])
        return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)

    core_b, core_1 = rate(BATCH, len(requests), False), rate(1, SINGLE, False)
    full_b, full_1 = rate(BATCH, len(requests), True), rate(1, SINGLE, True)
    print(f"model: regressor {model.regressor.n_iter_} trees, classifier {model.classifier.n_iter_} trees, "
          f"{len(model.feature_names)} features; one thread")
    print(f"features + predict, micro-batched ({BATCH}/batch): {core_b[0]:,.0f} windows/s wall, "
          f"{core_b[1]:,.0f} per CPU second (goal >= 50,000 per core)")
    print(f"features + predict, per item:                 {core_1[0]:,.0f} windows/s wall, {core_1[1]:,.0f} per CPU s")
    print(f"  micro-batched / per item: {core_b[0] / core_1[0]:.1f}x")
    print(f"score events (score_batch: + MaintenanceScore with stable id), micro-batched: {full_b[0]:,.0f} windows/s "
          f"wall, {full_b[1]:,.0f} per CPU s; per item {full_1[0]:,.0f} / {full_1[1]:,.0f}; "
          f"ratio {full_b[0] / full_1[0]:.1f}x")


class _Counter(DynamicSink[Any]):
    def __init__(self) -> None:
        self.count = 0

    def build(self, step_id: str, worker_index: int, worker_count: int) -> StatelessSinkPartition[Any]:
        outer = self

        class Part(StatelessSinkPartition[Any]):
            def write_batch(self, items: list[Any]) -> None:
                outer.count += len(items)

        return Part()


def _produce(settings: Any) -> int:
    """Each machine runs ``LIVES`` lives from new to failure back to back (one reading per signal a minute)."""
    lives = {machine: list(run_to_failure(LIVES, seed=300 + n, kind=kind))
             for n, (machine, kind) in enumerate(MACHINES.items())}
    span = max(sum(r.time_s for r in rows if r.rul_s == 0) for rows in lives.values())
    t0 = datetime.now(UTC) - timedelta(seconds=span + 3600)
    sent = 0
    with EventProducer(settings.kafka) as producer:
        for machine, rows in lives.items():
            offset = 0.0
            for row in rows:
                at = t0 + timedelta(seconds=offset + row.time_s + 30)
                for tag in PLANT.signals:
                    producer.send(TELEMETRY_READINGS, SensorReading(machine_id=machine, tag=tag,
                                                                    value=getattr(row, tag), source_timestamp=at))
                    sent += 1
                if row.rul_s == 0:
                    offset += row.time_s
    return sent


def _flow(registry: Registry) -> None:
    base = load_settings()
    server = base.database.url.get_secret_value()
    name = f"millstream_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(psycopg.conninfo.make_conninfo(server, dbname="postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(server, dbname=name)
    try:
        settings = load_settings(database={"url": url}, kafka={"bootstrap_servers": base.kafka.bootstrap_servers,
                                                               "topic_prefix": f"bench{uuid.uuid4().hex[:6]}."},
                                 maintenance={"model_registry": registry.root})
        scenario = read_scenario(DEMO)
        with connect(settings.database) as conn:
            migrate(conn, settings.database)
            load_scenario(conn, scenario)
            conn.commit()
        create_topics(settings.kafka, [TELEMETRY_READINGS, DLQ, ALERTS])
        messages = _produce(settings)
        bare = Dataflow("bare")
        counter = _Counter()
        source = kop.input("in", bare, brokers=[settings.kafka.bootstrap_servers],
                           topics=[TELEMETRY_READINGS.full_name(settings.kafka)], tail=False,
                           add_config=consumer_config(settings.kafka, "bench_bare"))
        op.output("count", source.oks, counter)
        start = time.perf_counter()
        run_main(bare)
        bare_rate = counter.count / (time.perf_counter() - start)
        decoded = Dataflow("decode_only")
        counter2 = _Counter()
        op.output("count", read_events("in", decoded, TELEMETRY_READINGS, settings, model=SensorReading,
                                       tail=False).oks, counter2)
        start = time.perf_counter()
        run_main(decoded)
        decode_rate = counter2.count / (time.perf_counter() - start)
        start = time.perf_counter()
        run_main(build_flow(settings, follow=False, scenario=scenario))
        flow_rate = messages / (time.perf_counter() - start)
        with connect(settings.database) as conn:
            scores = conn.execute("SELECT count(*) AS n FROM maintenance_scores").fetchone()["n"]
        print(f"flow end to end: {messages:,} readings of {len(MACHINES)} machines -> {scores:,} scores")
        print(f"bare Bytewax Kafka pass-through: {bare_rate:,.0f} readings/s ({counter.count:,} read)")
        print(f"Kafka + edge validation into SensorReading only (read_events): {decode_rate:,.0f} readings/s")
        print(f"maintenance flow:                {flow_rate:,.0f} readings/s")
        print(f"flow / bare: {flow_rate / bare_rate:.0%} (goal >= 50%); flow / decode only: "
              f"{flow_rate / decode_rate:.0%}")
    finally:
        with psycopg.connect(psycopg.conninfo.make_conninfo(server, dbname="postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        registry = _registry(Path(tmp))
        holder = ModelHolder(registry, "plant")
        current = holder.current()
        print(f"model {current[1]['model_id'] if current else None}")
        _scoring(holder)
        _flow(registry)
