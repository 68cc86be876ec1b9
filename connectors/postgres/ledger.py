"""The stock ledger: movements applied idempotently, stock per material x location x lot, FIFO, exceptions.

:func:`apply_movements` is a :class:`~connectors.postgres.sink.PostgresSink` writer. In one transaction it
copies a batch of movements in, inserts those whose id is new (``ON CONFLICT DO NOTHING``: a replay applies
nothing), locks the stock rows they touch and applies them in order:

- a movement *taking* stock consumes the location's lots first in, first out (oldest ``received_at``);
  what no lot covers is taken from the unassigned lot ``''``, which goes negative — the ledger keeps the
  truth, never clamps at zero; a movement that leaves the location's total below zero is applied and
  recorded in ``stock_exceptions`` (plus an ``inventory.stock_exception`` ERP record);
- a movement *putting* stock adds its lot (a transfer brings the lots it took, with their receipt time); a
  shortfall in the unassigned lot at that location is settled first;
- ``movement_lots`` keeps every allocation: which lots an order's backflush consumed, where a lot went;
- the ERP record of every applied movement goes to the outbox in the same transaction (exactly once);
- a movement that takes a location with a stock policy below its (effective) reorder point, while no
  proposal is open there, opens a reorder proposal (``reorder_proposals`` + an ERP record, up to the maximum
  in order multiples); the movement that brings it back above the reorder point plus the hysteresis closes
  it. Proposals come from newly applied movements only, so a replay proposes nothing again.

Items are :class:`LedgerEntry` (a movement with the effective reorder points of its locations, from the
stream's stock tracker) or bare movements.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg.rows import tuple_row

from connectors.erp.outbox import append_bulk
from millstream.events.erp import ErpRecord
from millstream.inventory.erp import exception_record, movement_record, proposal_record
from millstream.inventory.movements import Movement
from millstream.inventory.stock import REORDER_HYSTERESIS, proposal_quantity
from millstream.masterdata import StockPolicy

__all__ = ["MOVEMENT_COLUMNS", "UNASSIGNED_LOT", "LedgerEntry", "apply_movements", "movement_row"]

#: The lot of stock no known lot covers (a take beyond what was received).
UNASSIGNED_LOT = ""

MOVEMENT_COLUMNS = ("movement_id", "movement_type", "material_id", "quantity", "from_location_id", "to_location_id",
                    "lot", "occurred_at", "reference", "machine_id", "epc", "evidence_ids")

_COLUMNS = ", ".join(MOVEMENT_COLUMNS)
_ZERO = Decimal(0)


@dataclass(frozen=True)
class LedgerEntry:
    """A movement and the effective reorder point of each of its locations that has a stock policy."""

    movement: Movement
    reorder_points: tuple[tuple[str, float], ...] = ()


def movement_row(m: Movement) -> tuple[Any, ...]:
    return (m.id, m.movement_type, m.material_id, m.quantity, m.from_location_id, m.to_location_id, m.lot,
            m.occurred_at, m.reference, m.machine_id, m.epc, list(m.evidence_ids))


class _Lot:
    __slots__ = ("changed", "quantity", "received_at")

    def __init__(self, quantity: Decimal, received_at: datetime, changed: bool = False) -> None:
        self.quantity = quantity
        self.received_at = received_at
        self.changed = changed


class _Stock:
    """The locked stock rows of a batch and the effects of applying its movements to them."""

    def __init__(self, rows: list[tuple[str, str, str, Decimal, datetime]], open_proposals: set[tuple[str, str]],
                 policies: dict[tuple[str, str], StockPolicy]) -> None:
        self.lots: dict[tuple[str, str], dict[str, _Lot]] = defaultdict(dict)
        for material, location, lot, qty, received in rows:
            self.lots[(material, location)][lot] = _Lot(qty, received)
        self.open_proposals = open_proposals
        self.policies = policies
        self.proposals: dict[tuple[str, str], list[Any]] = {}  # opened in this batch (one open per key)
        self.new_proposals: list[list[Any]] = []
        self.closed: list[tuple[Any, ...]] = []
        self.allocations: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
        self.exceptions: list[tuple[Any, ...]] = []
        self.records: list[ErpRecord] = []

    def apply(self, entry: LedgerEntry) -> None:
        m = entry.movement
        moved: list[tuple[str, Decimal, datetime]] = []
        if m.from_location_id is not None:
            moved = self._take(m, m.from_location_id)
        if m.to_location_id is not None:
            if m.movement_type == "transfer":
                for lot, qty, received in moved:
                    self._put(m, m.to_location_id, lot, qty, received)
            else:
                self._put(m, m.to_location_id, m.lot or m.id, m.quantity, m.occurred_at)
        record = movement_record(m)
        if record is not None:
            self.records.append(record)
        for location, reorder_point in entry.reorder_points:
            self._reorder(m, location, reorder_point)

    def on_hand(self, material: str, location: str) -> Decimal:
        return sum((lot.quantity for lot in self.lots[(material, location)].values()), _ZERO)

    def _reorder(self, m: Movement, location: str, reorder_point: float) -> None:
        key = (m.material_id, location)
        policy = self.policies.get(key)
        if policy is None:
            return
        on_hand = self.on_hand(*key)
        if key not in self.open_proposals and on_hand < Decimal(str(reorder_point)):
            qty = proposal_quantity(float(on_hand), policy)
            record = proposal_record(m, location, qty, on_hand, reorder_point, policy)
            self.open_proposals.add(key)
            row = [record.id, m.material_id, location, qty, on_hand, reorder_point, m.id, m.occurred_at, None, None]
            self.proposals[key] = row
            self.new_proposals.append(row)
            self.records.append(record)
        elif key in self.open_proposals and on_hand >= Decimal(str(reorder_point * (1 + REORDER_HYSTERESIS))):
            self.open_proposals.discard(key)
            opened_here = self.proposals.pop(key, None)
            if opened_here is not None:
                opened_here[8:] = [m.id, m.occurred_at]
            else:
                self.closed.append((m.id, m.occurred_at, m.material_id, location))

    def _take(self, m: Movement, location: str) -> list[tuple[str, Decimal, datetime]]:
        lots = self.lots[(m.material_id, location)]
        left = m.quantity
        taken = []
        for name, lot in sorted(lots.items(), key=lambda kv: (kv[1].received_at, kv[0])):
            if left <= 0:
                break
            if name == UNASSIGNED_LOT or lot.quantity <= 0:
                continue
            qty = min(lot.quantity, left)
            lot.quantity -= qty
            lot.changed = True
            left -= qty
            taken.append((name, qty, lot.received_at))
        if left > 0:
            lot = lots.setdefault(UNASSIGNED_LOT, _Lot(_ZERO, m.occurred_at))
            lot.quantity -= left
            lot.changed = True
            taken.append((UNASSIGNED_LOT, left, m.occurred_at))
        for name, qty, _ in taken:
            self.allocations[(m.id, location, name)] -= qty
        on_hand = self.on_hand(m.material_id, location)
        if on_hand < 0:
            reason = (f"{m.movement_type} of {m.quantity} {m.material_id} at {location} leaves {on_hand}: "
                      f"more than the stock the ledger knows of")
            self.exceptions.append((m.id, "negative_stock", m.material_id, location, m.quantity, on_hand, reason,
                                    m.occurred_at))
            self.records.append(exception_record(m, location, on_hand, reason))
        return taken

    def _put(self, m: Movement, location: str, lot_name: str, qty: Decimal, received: datetime) -> None:
        lots = self.lots[(m.material_id, location)]
        short = lots.get(UNASSIGNED_LOT)
        if lot_name != UNASSIGNED_LOT and short is not None and short.quantity < 0:
            settle = min(-short.quantity, qty)
            short.quantity += settle
            short.changed = True
            self.allocations[(m.id, location, UNASSIGNED_LOT)] += settle
            qty -= settle
        if qty <= 0:
            return
        lot = lots.setdefault(lot_name, _Lot(_ZERO, received))
        lot.quantity += qty
        lot.changed = True
        self.allocations[(m.id, location, lot_name)] += qty

    def changed_lots(self) -> list[tuple[Any, ...]]:
        return [(material, location, name, lot.quantity, lot.received_at)
                for (material, location), lots in self.lots.items() for name, lot in lots.items() if lot.changed]


def apply_movements(conn: Any, items: list[LedgerEntry | Movement],
                    policies: dict[tuple[str, str], StockPolicy] | None = None) -> int:
    """Apply the movements not applied before, in order, in one transaction; returns how many were new."""
    if not items:
        return 0
    entries = [i if isinstance(i, LedgerEntry) else LedgerEntry(i) for i in items]
    movements = [e.movement for e in entries]
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS ledger_in (LIKE stock_movements INCLUDING DEFAULTS) "
                    "ON COMMIT DELETE ROWS")
        with cur.copy(f"COPY ledger_in ({_COLUMNS}) FROM STDIN") as copy:
            for m in movements:
                copy.write_row(movement_row(m))
        cur.execute(f"INSERT INTO stock_movements ({_COLUMNS}) SELECT {_COLUMNS} FROM ledger_in "  # noqa: S608
                    "ON CONFLICT (movement_id) DO NOTHING RETURNING movement_id")
        new_ids = {row[0] for row in cur.fetchall()}
        fresh: list[Movement] = []
        fresh_entries: list[LedgerEntry] = []
        seen: set[str] = set()
        for e in entries:
            if e.movement.id in new_ids and e.movement.id not in seen:
                seen.add(e.movement.id)
                fresh.append(e.movement)
                fresh_entries.append(e)
        if not fresh:
            return 0
        keys = sorted({(m.material_id, loc) for m in fresh for loc in m.locations})
        for material in sorted({m.material_id for m in fresh}):  # one writer per material at a time
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('millstream.stock'), hashtext(%s))", (material,))
        cur.execute("SELECT material_id, location_id, lot, quantity, received_at FROM stock_lots "
                    "WHERE (material_id, location_id) IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
                    "ORDER BY material_id, location_id, lot FOR UPDATE",
                    ([k[0] for k in keys], [k[1] for k in keys]))
        rows = cur.fetchall()
        cur.execute("SELECT material_id, location_id FROM reorder_proposals WHERE closed_at IS NULL "
                    "AND material_id = ANY(%s) FOR UPDATE", (sorted({m.material_id for m in fresh}),))
        stock = _Stock(rows, {(r[0], r[1]) for r in cur.fetchall()}, policies or {})
        for e in fresh_entries:
            stock.apply(e)
        cur.executemany("INSERT INTO stock_lots (material_id, location_id, lot, quantity, received_at) "
                        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (material_id, location_id, lot) "
                        "DO UPDATE SET quantity = EXCLUDED.quantity, updated_at = now()", stock.changed_lots())
        with cur.copy("COPY movement_lots (movement_id, location_id, lot, quantity) FROM STDIN") as copy:
            for (movement_id, location, lot), qty in stock.allocations.items():
                if qty != 0:
                    copy.write_row((movement_id, location, lot, qty))
        if stock.exceptions:
            cur.executemany("INSERT INTO stock_exceptions (movement_id, kind, material_id, location_id, quantity, "
                            "on_hand, reason, occurred_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                            "ON CONFLICT (movement_id) DO NOTHING", stock.exceptions)
        if stock.closed:
            cur.executemany("UPDATE reorder_proposals SET closed_by = %s, closed_at = %s WHERE material_id = %s "
                            "AND location_id = %s AND closed_at IS NULL", stock.closed)
        if stock.new_proposals:
            cur.executemany("INSERT INTO reorder_proposals (proposal_id, material_id, location_id, quantity, "
                            "on_hand, reorder_point, opened_by, opened_at, closed_by, closed_at) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", stock.new_proposals)
        append_bulk(conn, stock.records)
    return len(fresh)
