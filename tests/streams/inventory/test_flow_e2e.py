"""End to end on simulator output, real broker and database: the ledger's final stock per material x location
equals opening + receipts - consumption - issues computed from the simulators' ground truth, exactly, with no
stock exception; the same with two workers, down to every lot and allocation; a replay changes nothing; every
applied movement has its ERP record once."""

from __future__ import annotations

from typing import Any

import psycopg
from bytewax.testing import cluster_main, run_main

from connectors.postgres.database import connect
from millstream.settings import Settings
from streams.inventory import build_flow
from tests.helpers.databases import drop_database
from tests.helpers.inventory import (
    expected_stock,
    fresh_settings,
    ledger_stock,
    publish,
    simulate,
)


def ledger_summary(conn: psycopg.Connection) -> dict[str, Any]:
    one = lambda sql: conn.execute(sql).fetchone()["n"]  # noqa: E731
    return {
        "movements": one("SELECT count(*) AS n FROM stock_movements"),
        "allocations": one("SELECT count(*) AS n FROM movement_lots"),
        "outbox": one("SELECT count(*) AS n FROM erp_outbox"),
        "exceptions": one("SELECT count(*) AS n FROM stock_exceptions"),
        "gate_events": one("SELECT count(*) AS n FROM gate_events"),
        "dead_letters": one("SELECT count(*) AS n FROM dead_letters"),
        "kinds": {r["movement_type"]: r["n"] for r in conn.execute(
            "SELECT movement_type, count(*) AS n FROM stock_movements GROUP BY 1").fetchall()},
    }


def lots(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    """Every lot's quantity and every allocation: what FIFO made of the movements."""
    return [tuple(r.values()) for r in conn.execute(
        "SELECT material_id, location_id, lot, quantity FROM stock_lots ORDER BY 1, 2, 3").fetchall()] + [
        tuple(r.values()) for r in conn.execute(
            "SELECT movement_id, location_id, lot, quantity FROM movement_lots ORDER BY 1, 2, 3").fetchall()]


def test_ledger_matches_ground_truth_exactly_with_one_and_two_workers_and_replays(
        inv_settings: Settings, inv_db: psycopg.Connection, server_url: str, kafka_bootstrap: str) -> None:
    day = simulate()
    publish(inv_settings, day.readings, day.reads)
    expected = expected_stock(day)

    run_main(build_flow(inv_settings, day.scenario, follow=False))
    assert ledger_stock(inv_db) == expected
    first = ledger_summary(inv_db)
    assert first["dead_letters"] == 0
    assert first["exceptions"] == 0  # the simulated world never goes below zero, nor does the ledger
    assert set(first["kinds"]) == {"opening", "goods_receipt", "production_receipt", "transfer", "backflush",
                                   "goods_issue"}
    assert inv_db.execute("SELECT count(*) AS n FROM erp_outbox WHERE record_type = 'inventory.stock_exception'"
                          ).fetchone()["n"] == first["exceptions"]
    # Every applied movement but the opening balances has exactly one ERP record; plus confirmations etc.
    posted = inv_db.execute("SELECT count(*) AS n FROM erp_outbox WHERE record->'payload'->>'movement_id' IS NOT NULL "
                            "AND record_type <> 'inventory.stock_exception'").fetchone()["n"]
    assert posted == first["movements"] - first["kinds"]["opening"]
    passes = sum(1 for f in day.gate_facts if not f.details["missed"])
    assert first["gate_events"] == passes

    # Replaying the same topics (a restart without recovery) under two workers changes nothing.
    cluster_main(build_flow(inv_settings, day.scenario, follow=False), [], 0, worker_count_per_proc=2)
    assert ledger_stock(inv_db) == expected
    assert ledger_summary(inv_db) == first

    # Two workers from scratch, on a database of their own, reach the same stock.
    other, url = fresh_settings(server_url, kafka_bootstrap, inv_settings.kafka.topic_prefix)
    try:
        cluster_main(build_flow(other, day.scenario, follow=False), [], 0, worker_count_per_proc=2)
        with connect(other.database, autocommit=True) as conn:
            assert ledger_stock(conn) == expected
            # A material's movements are applied in event-time order, whatever the interleaving of the topics
            # and the workers: the lot allocations, stock exceptions (none) and proposals are the same too.
            assert ledger_summary(conn) == first
            assert lots(conn) == lots(inv_db)
    finally:
        drop_database(url)
