"""The ledger on the real database: idempotent apply, FIFO lots, traceability, negative stock applied and
flagged (exception + ERP record), reorder proposals raised once and closed after the receipt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import psycopg

from connectors.erp.outbox import get_record
from connectors.postgres.ledger import LedgerEntry, apply_movements
from millstream.inventory.erp import movement_posting, movement_record
from millstream.inventory.movements import Movement, quantity
from millstream.masterdata import StockPolicy

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
POLICY = StockPolicy(material_id="RM-STEEL-BAR", location_id="LIV-LINE-A", reorder_point=100, safety_stock=20,
                     max_stock=500, order_multiple=50)


def mv(kind: str, qty: float, minute: int, **fields: Any) -> Movement:
    ends = {"opening": {"to_location_id": "LIV-LINE-A"}, "goods_receipt": {"to_location_id": "LIV-LINE-A"},
            "backflush": {"from_location_id": "LIV-LINE-A", "reference": "PO-1", "machine_id": "CNC-01"},
            "transfer": {"from_location_id": "LIV-LINE-A", "to_location_id": "LIV-LINE-B"}}[kind]
    return Movement(movement_type=kind, material_id="RM-STEEL-BAR", quantity=quantity(qty),
                    occurred_at=T0 + timedelta(minutes=minute), source_id=f"{kind}-{minute}", **{**ends, **fields})


def lots(db: psycopg.Connection, location: str = "LIV-LINE-A") -> dict[str, Decimal]:
    return {r["lot"]: r["quantity"] for r in db.execute(
        "SELECT lot, quantity FROM stock_lots WHERE location_id = %s AND quantity <> 0", (location,)).fetchall()}


def test_fifo_traceability_idempotency_and_negative_stock(inv_db: psycopg.Connection) -> None:
    batch = [mv("opening", 50, 0, lot="OPENING"), mv("goods_receipt", 80, 5, lot="SSCC-1"),
             mv("backflush", 60, 10), mv("transfer", 40, 15)]
    assert apply_movements(inv_db, batch) == 4
    assert lots(inv_db) == {"SSCC-1": Decimal("30.000")}  # opening used up first, then the older receipt
    assert lots(inv_db, "LIV-LINE-B") == {"SSCC-1": Decimal("40.000")}  # the lot travelled with the transfer
    consumed = inv_db.execute("SELECT l.lot, l.quantity FROM movement_lots l JOIN stock_movements m USING "
                              "(movement_id) WHERE m.reference = 'PO-1' ORDER BY l.lot").fetchall()
    assert [(r["lot"], r["quantity"]) for r in consumed] == [("OPENING", Decimal("-50.000")),
                                                             ("SSCC-1", Decimal("-10.000"))]
    assert apply_movements(inv_db, batch) == 0  # a replay applies nothing
    assert lots(inv_db) == {"SSCC-1": Decimal("30.000")}

    short = mv("backflush", 45.5, 20)
    assert apply_movements(inv_db, [short]) == 1
    assert lots(inv_db) == {"": Decimal("-15.500")}  # applied, never clamped
    exception = inv_db.execute("SELECT * FROM stock_exceptions WHERE movement_id = %s", (short.id,)).fetchone()
    assert (exception["kind"], exception["on_hand"]) == ("negative_stock", Decimal("-15.500"))
    record = inv_db.execute("SELECT record FROM erp_outbox WHERE record_type = 'inventory.stock_exception'"
                            ).fetchone()["record"]
    assert record["payload"]["movement_id"] == short.id and record["erp_keys"]["location"] == "LIV-LINE-A"
    # A receipt settles the shortfall first; the rest is its lot.
    assert apply_movements(inv_db, [mv("goods_receipt", 20, 25, lot="SSCC-2")]) == 1
    assert lots(inv_db) == {"SSCC-2": Decimal("4.500")}
    postings = inv_db.execute("SELECT record_type, count(*) AS n FROM erp_outbox GROUP BY 1 ORDER BY 1").fetchall()
    assert {r["record_type"]: r["n"] for r in postings} == {
        "inventory.goods_receipt": 2, "inventory.stock_exception": 1, "inventory.transfer": 1,
        "production.goods_issue": 2}


def test_reorder_proposal_raised_once_and_closed_after_the_receipt(inv_db: psycopg.Connection) -> None:
    policies = {("RM-STEEL-BAR", "LIV-LINE-A"): POLICY}
    rop = (("LIV-LINE-A", 100.0),)

    def apply(*movements: Movement) -> None:
        apply_movements(inv_db, [LedgerEntry(m, rop) for m in movements], policies)

    apply(mv("opening", 300, 0, lot="OPENING"))
    apply(mv("backflush", 150, 10), mv("backflush", 70, 20))  # 80 left: below 100
    apply(mv("backflush", 30, 30))  # 50 left: still below, no second proposal
    proposals = inv_db.execute("SELECT * FROM reorder_proposals").fetchall()
    assert len(proposals) == 1 and proposals[0]["closed_at"] is None
    assert proposals[0]["quantity"] == Decimal("400.000")  # from 80 up to 500 in multiples of 50
    records = inv_db.execute("SELECT record FROM erp_outbox WHERE record_type = 'inventory.reorder_proposal'"
                             ).fetchall()
    assert [r["record"]["payload"]["quantity"] for r in records] == [400.0]
    apply(mv("goods_receipt", 50, 40, lot="SSCC-3"))  # 100: not 10 % above the reorder point yet
    assert inv_db.execute("SELECT closed_at FROM reorder_proposals").fetchone()["closed_at"] is None
    receipt = mv("goods_receipt", 400, 50, lot="SSCC-4")
    apply(receipt)
    closed = inv_db.execute("SELECT closed_by FROM reorder_proposals").fetchone()
    assert closed["closed_by"] == receipt.id
    apply(mv("backflush", 450, 60))  # below again after the receipt: a new cycle, a new proposal
    assert inv_db.execute("SELECT count(*) AS n FROM reorder_proposals WHERE closed_at IS NULL").fetchone()["n"] == 1
    assert inv_db.execute("SELECT count(*) AS n FROM erp_outbox WHERE record_type = 'inventory.reorder_proposal'"
                          ).fetchone()["n"] == 2


def test_the_ledgers_unvalidated_postings_equal_the_validated_erp_records(inv_db: psycopg.Connection) -> None:
    """The ledger builds its per-movement ERP postings without validating them again (its hot path); they must
    be exactly what the validated record would be, as stored in the outbox and read back by the dispatcher."""
    moves = [mv("goods_receipt", 80, 5, lot="SSCC-1", reference="GR-1", epc="urn:epc:id:sscc:4012345.0000100002"),
             mv("backflush", 12.5, 6, evidence_ids=("r1", "r2")), mv("transfer", 3, 7),
             mv("goods_receipt", 1, 8, lot='odd "lot" \\ name')]
    assert apply_movements(inv_db, moves) == 4
    for m in moves:
        posting = movement_posting(m)
        record = movement_record(m)
        assert posting is not None and record is not None
        assert orjson.loads(orjson.dumps(posting.record, option=orjson.OPT_UTC_Z)) == record.model_dump(mode="json")
        assert get_record(inv_db, record.id) == record
    assert movement_posting(mv("opening", 5, 0)) is None
