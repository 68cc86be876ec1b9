"""The scorecard's inputs from PostgreSQL (ground truth and the pipelines' tables) and the pure computation.

``now`` (event time) is the run's simulated clock as ``simulation_runs`` last recorded it, else the newest fact,
else the database's clock. Only the fact kinds the scorecard uses are read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from psycopg.rows import dict_row

from connectors.postgres.masterdata_reader import read_scenario
from millstream.errors import ScenarioError
from millstream.inventory.catalog import Catalog
from millstream.scorecard import (
    AlertRow,
    EtaRow,
    ExceptionRow,
    Inputs,
    MilestoneRow,
    ProductionRow,
    ScoreRow,
    ShipmentRow,
    StockRow,
    TruthFact,
    compute,
    quiet_instant,
    settle_for,
)
from millstream.settings import InventorySettings, LogisticsSettings

__all__ = ["FACT_KINDS", "ledger_stock", "read_inputs", "scorecard"]

FACT_KINDS = ("order_started", "degradation_onset", "failure", "repaired", "part_made", "tag_pass", "departure",
              "arrival")


def _rows(conn: Any, query: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def run_now(conn: Any) -> datetime:
    """Event time's "now": the run's clock, else the newest fact, else the database's clock."""
    row = _rows(conn, "SELECT coalesce((SELECT max(sim_time) FROM simulation_runs),"
                      " (SELECT max(time) FROM ground_truth), now()) AS now")[0]
    return row["now"]  # type: ignore[no-any-return]


def read_inputs(conn: Any, now: datetime | None = None, settle: timedelta | None = None) -> Inputs:
    now = now or run_now(conn)
    facts = [TruthFact(r["time"], r["kind"], r["subject"], r["details"], r["source"]) for r in _rows(
        conn, "SELECT time, kind, subject, details, source FROM ground_truth WHERE kind = ANY(%s) AND time <= %s"
              " ORDER BY time", (list(FACT_KINDS), now))]
    alerts = [AlertRow(**r) for r in _rows(
        conn, "SELECT id, alert_type, domain, subject_kind, subject_id, opened_at FROM alerts WHERE opened_at <= %s",
        (now,))]
    scores = [ScoreRow(**r) for r in _rows(
        conn, "SELECT machine_id, at, rul, p_fail, horizon, rul_unit FROM maintenance_scores WHERE at <= %s", (now,))]
    exceptions = [ExceptionRow(**r) for r in _rows(
        conn, "SELECT movement_id, kind, material_id, location_id, occurred_at FROM stock_exceptions"
              " WHERE occurred_at <= %s", (now,))]
    production = [ProductionRow(r["reference"], r["occurred_at"], float(r["quantity"])) for r in _rows(
        conn, "SELECT reference, occurred_at, quantity FROM stock_movements WHERE movement_type = 'production_receipt'"
              " AND reference IS NOT NULL AND occurred_at <= %s", (now,))]
    shipments = [ShipmentRow(**r) for r in _rows(
        conn, "SELECT s.id AS shipment_id, coalesce(st.promised_to, s.promised_to) AS promised_to, st.status"
              " FROM shipments s LEFT JOIN shipment_state st ON st.shipment_id = s.id")]
    milestones = [MilestoneRow(**r) for r in _rows(
        conn, "SELECT shipment_id, milestone, at FROM shipment_milestones WHERE at <= %s", (now,))]
    etas = [EtaRow(**r) for r in _rows(
        conn, "SELECT shipment_id, computed_at, eta, naive_eta FROM shipment_etas WHERE computed_at <= %s"
              " ORDER BY computed_at", (now,))]
    inputs = Inputs(now=now, facts=facts, alerts=alerts, scores=scores, exceptions=exceptions,
                    production=production, shipments=shipments, milestones=milestones, etas=etas)
    if settle is not None:
        inputs.settle = settle
    if any(f.kind in {"part_made", "tag_pass"} for f in facts):
        try:
            inputs.catalog = Catalog(read_scenario(conn))
        except ScenarioError:
            return inputs  # no master data loaded: the physical stock cannot be known, nothing is compared
        inputs.stock_at = quiet_instant(facts, now - inputs.settle)
        inputs.ledger = ledger_stock(conn, inputs.stock_at)
    return inputs


def ledger_stock(conn: Any, at: datetime) -> list[StockRow]:
    """The ledger's stock per material x location: every movement up to ``at`` (into + , out of -)."""
    return [StockRow(**r) for r in _rows(
        conn, "SELECT material_id, location_id, sum(q) AS quantity FROM ("
              " SELECT material_id, to_location_id AS location_id, quantity AS q FROM stock_movements"
              "  WHERE to_location_id IS NOT NULL AND occurred_at <= %s"
              " UNION ALL SELECT material_id, from_location_id, -quantity FROM stock_movements"
              "  WHERE from_location_id IS NOT NULL AND occurred_at <= %s) m"
              " GROUP BY material_id, location_id HAVING sum(q) <> 0", (at, at))]


def scorecard(conn: Any, inventory: InventorySettings, now: datetime | None = None, *,
              logistics: LogisticsSettings | None = None) -> dict[str, Any]:
    """The scorecard of what this database holds, as of ``now`` (default: :func:`run_now`); production is
    compared outside the inventory flow's in-flight window (:func:`~millstream.scorecard.settle_for`); a trip
    is late for the delay alerts beyond ``logistics.delay_tolerance_min`` (default settings when not given)."""
    inputs = read_inputs(conn, now, settle_for(inventory))
    inputs.delay_tolerance = timedelta(minutes=(logistics or LogisticsSettings()).delay_tolerance_min)
    return compute(inputs)
