"""The ground-truth store on a real PostgreSQL: round trip, idempotence (same fact twice, replays), queries by
kind and time range, and the background writer of ``millstream simulate --ground-truth-db``."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from connectors.postgres.ground_truth import GroundTruthWriter, fact_id, query_facts, store_facts
from millstream.settings import Settings
from simulators.groundtruth import Fact, GroundTruth

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _subject() -> str:
    return f"M-{uuid.uuid4().hex[:8]}"  # the session database is shared: each test its own subjects


def test_round_trip_and_idempotence(db: psycopg.Connection) -> None:
    m = _subject()
    facts = [Fact(T0, "degradation_onset", m, {"health": 0.9}),
             Fact(T0 + timedelta(hours=2), "failure", m, {"health": 0.2, "order_id": None}),
             Fact(T0 + timedelta(hours=3), "repaired", m, {"state": "running"})]
    assert store_facts(db, facts, "plant", "run-1") == 3
    assert store_facts(db, facts, "plant", "run-1") == 0  # a replay inserts nothing
    assert store_facts(db, [*facts, facts[0]], "plant", "run-1") == 0
    stored = query_facts(db, subject=m)
    assert [(f.time, f.kind, f.subject, f.details, f.source, f.run) for f in stored] == [
        (T0, "degradation_onset", m, {"health": 0.9}, "plant", "run-1"),
        (T0 + timedelta(hours=2), "failure", m, {"health": 0.2, "order_id": None}, "plant", "run-1"),
        (T0 + timedelta(hours=3), "repaired", m, {"state": "running"}, "plant", "run-1")]
    assert stored[0].id == fact_id(T0, "degradation_onset", m, {"health": 0.9})


def test_the_id_is_stable_and_depends_on_every_part() -> None:
    base = fact_id(T0, "failure", "M-1", {"a": 1, "b": "x"})
    assert base == fact_id(T0, "failure", "M-1", {"b": "x", "a": 1})  # key order does not matter
    assert base == fact_id(T0.astimezone(UTC).replace(tzinfo=UTC), "failure", "M-1", {"a": 1, "b": "x"})
    assert len({base, fact_id(T0 + timedelta(microseconds=1), "failure", "M-1", {"a": 1, "b": "x"}),
                fact_id(T0, "repaired", "M-1", {"a": 1, "b": "x"}), fact_id(T0, "failure", "M-2", {"a": 1, "b": "x"}),
                fact_id(T0, "failure", "M-1", {"a": 2, "b": "x"})}) == 5


def test_query_by_kind_and_time_range(db: psycopg.Connection) -> None:
    m = _subject()
    store_facts(db, [Fact(T0 + timedelta(minutes=i), "part_made" if i % 2 else "failure", m, {"n": i})
                     for i in range(6)], "plant")
    parts = query_facts(db, kinds=["part_made"], subject=m)
    assert [f.details["n"] for f in parts] == [1, 3, 5]
    window = query_facts(db, since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=4), subject=m)
    assert [f.details["n"] for f in window] == [2, 3]  # [since, until)
    assert query_facts(db, kinds=[], subject=m) == []
    assert [f.details["n"] for f in query_facts(db, subject=m, limit=2)] == [0, 1]


def test_the_writer_stores_what_the_simulator_records(settings: Settings, db: psycopg.Connection) -> None:
    m = _subject()
    writer = GroundTruthWriter(settings.database, "plant", "run-2", interval_s=0.1)
    truth = GroundTruth(sinks=[writer.add])
    truth.record(T0, "failure", m, health=0.1)
    deadline = time.monotonic() + 10
    while not query_facts(db, subject=m) and time.monotonic() < deadline:
        db.rollback()
        time.sleep(0.1)
    truth.record(T0 + timedelta(seconds=1), "repaired", m, state="running")
    truth.record(T0, "failure", m, health=0.1)  # recorded again (a replay): stored once
    writer.close()
    db.rollback()
    assert [(f.kind, f.source, f.run) for f in query_facts(db, subject=m)] == [("failure", "plant", "run-2"),
                                                                             ("repaired", "plant", "run-2")]
    assert writer.stored == 2 and writer.pending == 0
