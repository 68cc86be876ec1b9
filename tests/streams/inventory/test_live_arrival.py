"""The inventory flow following its topics while the world happens (real broker, database and ``millstream
inventory --follow``): a simulated demo day's part counters and gate messages are published as ``millstream up``
publishes them — in event-time order, paced (here x240) — not all at once.

Published all at once, every input partition has data and the flow's ordering is decided by the data alone.
Live, most gates are quiet most of the time: a reader's partition brings nothing for minutes, and without its
heartbeats the gate stream's event-time watermark (the oldest partition's newest time) stood still at a quiet
reader's last read. The passes behind it were decided only when that reader read again, longer than the
``order_wait_s`` the machines' movements wait for them — so line-side consumption was booked before the
transfer that brought its material: stock exceptions the physical world never had (the live run's six
``SF-SHAFT`` at ``LIV-LINE-B``). Heartbeats keep every partition's time moving; the ledger books no exception and
equals the physical stock at every quiet instant.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import pytest

from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import TELEMETRY_READINGS, WAREHOUSE_RFID
from millstream.events import ReaderHeartbeat
from millstream.settings import Settings
from tests.helpers.inventory import ledger_stock_at, physical_stock, physically_negative, quiet_instants, simulate
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.subprocess

MILLSTREAM = str(ROOT / ".venv" / "bin" / "millstream")
SPEED = 240.0


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "MILLSTREAM_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
            "MILLSTREAM_DATABASE__URL": settings.database.url.get_secret_value(),
            # what `millstream up` runs with: the defaults
            "MILLSTREAM_INVENTORY__LATE_WAIT_S": "30", "MILLSTREAM_INVENTORY__ORDER_WAIT_S": "300"}


def test_published_as_it_happens_the_ledger_books_no_exception_and_equals_the_physical_stock(
        inv_settings: Settings, inv_db: psycopg.Connection, tmp_path: Path) -> None:
    day = simulate(hours=3, signals=True)
    assert physically_negative(day) == []
    # a machine fails within the day: its counters stop right after its last part, its signals go on
    assert any(f.kind == "failure" for f in day.plant_facts)
    assert any(isinstance(r, ReaderHeartbeat) for r in day.reads)
    scenario_file = tmp_path / "scenario.json"
    scenario_file.write_bytes(orjson.dumps(day.scenario.model_dump(mode="json")))
    flow = subprocess.Popen([MILLSTREAM, "inventory", "--scenario", str(scenario_file), "--follow"],
                            env=_env(inv_settings), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    messages = sorted([(r.source_timestamp, 0, TELEMETRY_READINGS, r) for r in day.readings]
                      + [(r.timestamp, 1, WAREHOUSE_RFID, r) for r in day.reads], key=lambda m: (m[0], m[1]))
    try:
        began = time.monotonic()
        with EventProducer(inv_settings.kafka) as producer:
            for at, _, topic, event in messages:
                due = began + (at - day.start).total_seconds() / SPEED
                if (wait := due - time.monotonic()) > 0.005:
                    producer.flush(0)
                    time.sleep(wait)
                producer.send(topic, event, timestamp=datetime.now(UTC))
            producer.flush(30)
        assert flow.poll() is None, flow.stderr.read().decode() if flow.stderr else ""
        # the movements of the last minutes wait for their sources (order_wait_s); settle what came before
        settled = day.end - timedelta(minutes=15)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            newest = inv_db.execute("SELECT max(occurred_at) AS t FROM stock_movements").fetchone()["t"]
            if newest is not None and newest > settled:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the flow did not book past {settled}")
    finally:
        flow.send_signal(signal.SIGTERM)
        flow.wait(30)

    exceptions = inv_db.execute("SELECT material_id, location_id, occurred_at, reason FROM stock_exceptions"
                                " ORDER BY occurred_at").fetchall()
    assert exceptions == []
    instants = [at for at in quiet_instants(day, timedelta(minutes=20)) if at < settled]
    assert len(instants) >= 6
    for at in instants:
        assert ledger_stock_at(inv_db, at) == physical_stock(day, at), at - day.start
    # every good part made up to then is received, the last ones before a failure too (the machine's signals
    # take its pending counter scan in; its counters stay still until the repair)
    made: dict[str, int] = {}
    for f in day.plant_facts:
        if f.kind == "part_made" and not f.details["scrap"] and f.time <= settled:
            made[f.details["order_id"]] = made.get(f.details["order_id"], 0) + 1
    received = {r["reference"]: int(r["q"]) for r in inv_db.execute(
        "SELECT reference, sum(quantity) AS q FROM stock_movements WHERE movement_type = 'production_receipt'"
        " AND occurred_at <= %s GROUP BY 1", (settled,)).fetchall()}
    assert received == made
    # ... and booked while the machine is down, not when it runs again: before anything 15 minutes later
    checked = 0
    for failure in (f for f in day.plant_facts if f.kind == "failure" and f.time < settled):
        repaired = min((f.time for f in day.plant_facts if f.kind == "repaired" and f.subject == failure.subject
                        and f.time > failure.time), default=day.end)
        last = max(f.time for f in day.plant_facts if f.kind == "part_made" and f.subject == failure.subject
                   and f.time <= failure.time)
        if repaired - last < timedelta(minutes=20):
            continue
        booked = inv_db.execute("SELECT max(applied_at) AS t FROM stock_movements WHERE machine_id = %s AND"
                                " occurred_at = %s", (failure.subject, last)).fetchone()["t"]
        later = inv_db.execute("SELECT min(applied_at) AS t FROM stock_movements WHERE occurred_at >= %s",
                               (last + timedelta(minutes=15),)).fetchone()["t"]
        assert booked is not None and later is not None and booked < later, failure
        checked += 1
    assert checked >= 1
