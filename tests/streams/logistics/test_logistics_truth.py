"""The logistics flow on the real broker and database against the fleet simulator's ground truth (the issue
"Truth"), fed a simulated demo day with injected delays plus repeated fixes, stragglers, pings of unknown trucks
and malformed messages:

- the ping counters add up: every ping that passed the edge is ``received`` and has exactly one outcome (``ok``,
  ``outlier``, ``late`` or ``rejected``), none is left in the reorder buffers when the input ends, and the
  buffer gauge follows the truck step ping by ping;
- the ETA is at most 2 simulated minutes old and never in the past for every ping of a truck on the road (from
  the stored ETA history and track);
- the delay alerts match the shipments the injected incidents really made late (precision and recall >= 0.9).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from bytewax.testing import run_main

from connectors.postgres.database import connect
from connectors.postgres.migrations import migrate
from millstream.events import GpsPing
from millstream.logistics.outputs import PositionRow
from millstream.logistics.truck import Logistics
from millstream.masterdata import Scenario
from millstream.metrics import LOGISTICS_PINGS, LOGISTICS_PINGS_BUFFERED, counter_total
from millstream.settings import Settings, load_settings
from simulators.groundtruth import Fact
from streams.logistics import _TruckLogic, build_flow
from tests.helpers.databases import create_database, drop_database
from tests.helpers.logistics import START, demo_day, produce

SEED = 8  # SHP-5001 breaks down and arrives late; SHP-5005's route history holds that breakdown
OUTCOMES = ("ok", "outlier", "late", "rejected")


def buffered() -> float:
    """This process's millstream_logistics_pings_buffered."""
    return sum(s.value for m in LOGISTICS_PINGS_BUFFERED.collect() for s in m.samples)


def counters() -> dict[str, float]:
    values = {q: counter_total(LOGISTICS_PINGS, quality=q) for q in ("received", *OUTCOMES)}
    values["buffered"] = buffered()
    return values


@dataclass
class Run:
    settings: Settings
    scenario: Scenario
    facts: list[Fact]
    counted: dict[str, float]  # how each counter moved during the run
    sent: dict[str, int]  # what was produced, by kind


def with_repeats(pings: list[GpsPing], rng: random.Random) -> tuple[list[GpsPing], int]:
    """The day's pings with 1 % sent twice in a row and 1 % of stragglers: a fix from minutes back, once as it
    was and once with its time moved by 2 s (a new event, older than what its truck already released)."""
    fed, extra = [], 0
    for ping in pings:
        fed.append(ping)
        if rng.random() < 0.01:
            fed.append(ping)
            extra += 1
        if rng.random() < 0.01 and len(fed) > 400:
            old = rng.choice(fed[-400:-200])
            fed += [old, old.model_copy(update={"timestamp": old.timestamp - timedelta(seconds=2)})]
            extra += 2
    return fed, extra


def foreign_pings() -> list[GpsPing]:
    at = START + timedelta(hours=3)
    return [GpsPing(truck_id=truck, lat=53.4, lon=-2.9, timestamp=at + timedelta(seconds=5 * i))
            for truck in ("TRK-404", "TRK-99") for i in range(3)]  # unknown truck; a truck without shipments


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str, server_url: str) -> Iterator[Run]:
    url = create_database(server_url, "millstream_truth")
    settings = load_settings(kafka={"bootstrap_servers": kafka_bootstrap, "topic_prefix": "truth."},
                             database={"url": url})
    with connect(settings.database) as conn:
        migrate(conn, settings.database)
    scenario, pings, facts, _ = demo_day(SEED)
    fed, repeats = with_repeats(pings, random.Random(SEED))
    foreign = foreign_pings()
    malformed = [b'{"truck_id": "TRK-01", "lat": 95.0}', b"not json"]
    produce(settings, [*fed, *foreign], malformed)
    before = counters()
    run_main(build_flow(settings, scenario, follow=False))
    after = counters()
    yield Run(settings, scenario, facts, {k: after[k] - before[k] for k in after},
              {"day": len(pings), "repeats": repeats, "foreign": len(foreign), "malformed": len(malformed)})
    drop_database(url)


@pytest.fixture
def db(run: Run) -> Iterator[psycopg.Connection]:
    with connect(run.settings.database) as conn:
        yield conn


def test_the_ping_counters_add_up(run: Run, db: psycopg.Connection) -> None:
    c, sent = run.counted, run.sent
    assert c["received"] == sent["day"] + sent["repeats"] + sent["foreign"]  # malformed ones never became pings
    assert c["received"] == sum(c[q] for q in OUTCOMES), c
    assert c["buffered"] == 0  # the end of the input released every truck's reorder buffer
    assert c["rejected"] == sent["foreign"]
    assert c["late"] >= sent["repeats"]
    stored = {r["quality"]: r["n"] for r in db.execute(
        "SELECT quality, count(*) AS n FROM truck_positions GROUP BY quality").fetchall()}
    assert stored["ok"] == c["ok"] and stored.get("outlier", 0) == c["outlier"]
    assert stored["late"] <= c["late"]  # a repeated fix is the same row: stored once


def test_the_buffer_gauge_follows_the_truck_step() -> None:
    """Ping by ping through the flow's truck step: received = outcomes so far + what the gauge says waits."""
    scenario, pings, _, _ = demo_day(SEED)
    logistics = Logistics(scenario)
    logic = _TruckLogic(logistics, None)
    start = buffered()
    outcomes = 0
    truck = pings[0].truck_id
    for n, ping in enumerate((p for p in pings if p.truck_id == truck), start=1):
        items, _ = logic.on_item((0, ping))
        outcomes += sum(isinstance(i, PositionRow) for i in items)
        assert n == outcomes + buffered() - start
    items, _ = logic.on_eof()
    outcomes += sum(isinstance(i, PositionRow) for i in items)
    assert outcomes == n and buffered() == start


def test_the_eta_is_fresh_and_never_past_while_the_truck_moves(run: Run, db: psycopg.Connection) -> None:
    rows = db.execute("""
        SELECT p.shipment_id, p.time, e.computed_at, e.eta
        FROM truck_positions p
        JOIN shipment_milestones d ON d.shipment_id = p.shipment_id AND d.milestone = 'departed'
        JOIN shipment_milestones a ON a.shipment_id = p.shipment_id AND a.milestone = 'arrived'
        LEFT JOIN LATERAL (SELECT computed_at, eta FROM shipment_etas s WHERE s.shipment_id = p.shipment_id
                           AND s.computed_at <= p.time ORDER BY computed_at DESC LIMIT 1) e ON TRUE
        WHERE p.quality = 'ok' AND p.speed_kmh > 0 AND p.time > d.at + interval '1 minute' AND p.time < a.at
    """).fetchall()
    assert len(rows) > 2000
    assert all(r["computed_at"] is not None for r in rows)
    ages = sorted((r["time"] - r["computed_at"]).total_seconds() for r in rows)
    print(f"ETA age while moving over {len(rows)} pings: median {ages[len(ages) // 2]:.0f} s, max {ages[-1]:.0f} s")
    assert ages[-1] <= 120, ages[-5:]
    past = [r for r in rows if r["eta"] < r["time"]]
    assert not past, past[:3]
    states = db.execute("SELECT status FROM shipment_state").fetchall()
    assert {r["status"] for r in states} == {"delivered"}


def test_delay_alerts_match_the_injected_delays(run: Run, db: psycopg.Connection) -> None:
    tolerance = run.settings.logistics.delay_tolerance_min
    arrivals = {f.details["shipment_id"]: f for f in run.facts if f.kind == "arrival"}
    late = {sid for sid, f in arrivals.items() if f.details["late_minutes"] > tolerance}
    incidents = {f.details["shipment_id"] for f in run.facts
                 if f.kind == "incident" and f.details["incident"] in ("breakdown", "traffic_jam", "detour")}
    assert late and incidents - late  # a day with late shipments and with incidents that were made up
    alerts: list[dict[str, Any]] = db.execute(
        "SELECT subject_id, opened_at, state FROM alerts WHERE alert_type = 'shipment.delay'").fetchall()
    alerted = {a["subject_id"] for a in alerts}
    precision = len(alerted & late) / len(alerted)
    recall = len(alerted & late) / len(late)
    print(f"delay alerts: {sorted(alerted)}, late: {sorted(late)}: precision {precision:.2f}, recall {recall:.2f}")
    assert precision >= 0.9 and recall >= 0.9
    for a in alerts:
        assert a["opened_at"] <= arrivals[a["subject_id"]].time, a
        assert a["state"] == "cleared"  # on delivery
    records = db.execute("SELECT record FROM erp_outbox WHERE record_type = 'shipment.delay'").fetchall()
    assert {r["record"]["subject_id"] for r in records} == alerted
