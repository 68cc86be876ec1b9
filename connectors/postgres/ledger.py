"""The stock ledger: movements applied idempotently, stock per material x location x lot, FIFO, exceptions.

:func:`apply_movements` is a :class:`~connectors.postgres.sink.PostgresSink` writer. In one transaction it
takes an advisory lock per material of the batch (one writer per material at a time), looks up which movement
ids are applied already (a replay applies nothing), ``COPY``s the new ones into ``stock_movements``, locks the
stock rows they touch and applies them in order:

- a movement *taking* stock consumes the location's lots first in, first out (oldest ``received_at``);
  what no lot covers is taken from the unassigned lot ``''``, which goes negative — the ledger keeps the
  truth, never clamps at zero; a movement that leaves the location's total below zero is applied and
  recorded in ``stock_exceptions`` (plus an ``inventory.stock_exception`` ERP record);
- a movement *putting* stock adds its lot (a transfer brings the lots it took, with their receipt time); a
  shortfall in the unassigned lot at that location is settled first;
- ``movement_lots`` keeps every allocation: which lots an order's backflush consumed, where a lot went;
- the ERP record of every applied movement goes to the outbox in the same transaction (exactly once), copied
  straight in (built without validating it again: :func:`~millstream.inventory.erp.movement_posting`);
- a movement that takes a location with a stock policy below its (effective) reorder point, while no
  proposal is open there, opens a reorder proposal (``reorder_proposals`` + an ERP record, up to the maximum
  in order multiples); the movement that brings it back above the reorder point plus the hysteresis closes
  it. Proposals come from newly applied movements only, so a replay proposes nothing again.

Items are :class:`LedgerEntry` (a movement with the effective reorder points of its locations, from the
stream's stock tracker) or bare movements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg.rows import tuple_row

from connectors.erp.outbox import copy_new_rows
from millstream.events.erp import OutboxRow, outbox_row
from millstream.inventory.erp import exception_record, movement_posting, proposal_record
from millstream.inventory.movements import Movement
from millstream.inventory.stock import REORDER_HYSTERESIS, proposal_quantity
from millstream.masterdata import StockPolicy

__all__ = ["MOVEMENT_COLUMNS", "UNASSIGNED_LOT", "LedgerEntry", "apply_movements", "movement_row"]

#: The lot of stock no known lot covers (a take beyond what was received).
UNASSIGNED_LOT = ""

MOVEMENT_COLUMNS = ("movement_id", "movement_type", "material_id", "quantity", "from_location_id", "to_location_id",
                    "lot", "occurred_at", "reference", "machine_id", "epc", "evidence_ids")

_COLUMNS = ", ".join(MOVEMENT_COLUMNS)
_TYPES = ["text", "text", "text", "numeric", "text", "text", "text", "timestamptz", "text", "text", "text", "text"]
_ZERO = Decimal(0)

@dataclass(frozen=True)
class LedgerEntry:
    """A movement and the effective reorder point of each of its locations that has a stock policy."""

    movement: Movement
    reorder_points: tuple[tuple[str, float], ...] = ()


def movement_row(m: Movement) -> tuple[Any, ...]:
    return (m.id, m.movement_type, m.material_id, m.quantity, m.from_location_id, m.to_location_id, m.lot,
            m.occurred_at, m.reference, m.machine_id, m.epc, list(m.evidence_ids))


def _text_array(values: tuple[str, ...]) -> str:
    """A ``text[]`` literal (faster than the generic list dumper on the ledger's hot path)."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def _copy_row(m: Movement) -> tuple[Any, ...]:
    return (m.id, m.movement_type, m.material_id, m.quantity, m.from_location_id, m.to_location_id, m.lot,
            m.occurred_at, m.reference, m.machine_id, m.epc, _text_array(m.evidence_ids))


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
        self.records: list[OutboxRow] = []
        #: Per material x location: the total on hand, and its lots oldest first (``None``: to be sorted).
        self.totals: dict[tuple[str, str], Decimal] = {}
        self.fifo: dict[tuple[str, str], list[tuple[str, _Lot]] | None] = {}

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
        posting = movement_posting(m)
        if posting is not None:
            self.records.append(posting)
        for location, reorder_point in entry.reorder_points:
            self._reorder(m, location, reorder_point)

    def on_hand(self, material: str, location: str) -> Decimal:
        key = (material, location)
        total = self.totals.get(key)
        if total is None:
            total = self.totals[key] = sum((lot.quantity for lot in self.lots[key].values()), _ZERO)
        return total

    def _oldest_first(self, key: tuple[str, str]) -> list[tuple[str, _Lot]]:
        order = self.fifo.get(key)
        if order is None:
            order = self.fifo[key] = sorted(self.lots[key].items(), key=lambda kv: (kv[1].received_at, kv[0]))
        return order

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
            self.records.append(outbox_row(record))
        elif key in self.open_proposals and on_hand >= Decimal(str(reorder_point * (1 + REORDER_HYSTERESIS))):
            self.open_proposals.discard(key)
            opened_here = self.proposals.pop(key, None)
            if opened_here is not None:
                opened_here[8:] = [m.id, m.occurred_at]
            else:
                self.closed.append((m.id, m.occurred_at, m.material_id, location))

    def _take(self, m: Movement, location: str) -> list[tuple[str, Decimal, datetime]]:
        key = (m.material_id, location)
        lots = self.lots[key]
        on_hand = self.on_hand(*key) - m.quantity
        self.totals[key] = on_hand
        left = m.quantity
        taken = []
        for name, lot in self._oldest_first(key):
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
            short = lots.get(UNASSIGNED_LOT)
            if short is None:
                short = lots[UNASSIGNED_LOT] = _Lot(_ZERO, m.occurred_at)
                self.fifo[key] = None
            short.quantity -= left
            short.changed = True
            taken.append((UNASSIGNED_LOT, left, m.occurred_at))
        for name, qty, _ in taken:
            self.allocations[(m.id, location, name)] -= qty
        if on_hand < 0:
            reason = (f"{m.movement_type} of {m.quantity} {m.material_id} at {location} leaves {on_hand}: "
                      f"more than the stock the ledger knows of")
            self.exceptions.append((m.id, "negative_stock", m.material_id, location, m.quantity, on_hand, reason,
                                    m.occurred_at))
            self.records.append(outbox_row(exception_record(m, location, on_hand, reason)))
        return taken

    def _put(self, m: Movement, location: str, lot_name: str, qty: Decimal, received: datetime) -> None:
        key = (m.material_id, location)
        lots = self.lots[key]
        self.totals[key] = self.on_hand(*key) + qty
        short = lots.get(UNASSIGNED_LOT)
        if lot_name != UNASSIGNED_LOT and short is not None and short.quantity < 0:
            settle = min(-short.quantity, qty)
            short.quantity += settle
            short.changed = True
            self.allocations[(m.id, location, UNASSIGNED_LOT)] += settle
            qty -= settle
        if qty <= 0:
            return
        lot = lots.get(lot_name)
        if lot is None:
            lot = lots[lot_name] = _Lot(_ZERO, received)
            self.fifo[key] = None
        lot.quantity += qty
        lot.changed = True
        self.allocations[(m.id, location, lot_name)] += qty

    def changed_lots(self) -> list[tuple[Any, ...]]:
        return [(material, location, name, lot.quantity, lot.received_at)
                for (material, location), lots in self.lots.items() for name, lot in lots.items() if lot.changed]


def apply_movements(conn: Any, items: Sequence[LedgerEntry | Movement],
                    policies: dict[tuple[str, str], StockPolicy] | None = None) -> int:
    """Apply the movements not applied before, in order, in one transaction; returns how many were new."""
    if not items:
        return 0
    batch: dict[str, LedgerEntry] = {}  # a movement twice in the batch applies once
    for item in items:
        entry = item if isinstance(item, LedgerEntry) else LedgerEntry(item)
        batch.setdefault(entry.movement.id, entry)
    materials = sorted({e.movement.material_id for e in batch.values()})
    with conn.transaction(), conn.cursor(row_factory=tuple_row) as cur:
        # One writer per material at a time (locks taken in order, so two writers cannot deadlock); under the
        # locks, the movements not applied yet are known and can be copied straight in.
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('millstream.stock'), hashtext(m)) "
                    "FROM (SELECT m FROM unnest(%s::text[]) AS m ORDER BY m) AS ordered", (materials,))
        cur.execute("SELECT movement_id FROM stock_movements WHERE movement_id = ANY(%s)", (list(batch),))
        for (applied,) in cur.fetchall():
            del batch[applied]
        if not batch:
            return 0
        fresh = list(batch.values())
        with cur.copy(f"COPY stock_movements ({_COLUMNS}) FROM STDIN") as copy:
            copy.set_types(_TYPES)
            for e in fresh:
                copy.write_row(_copy_row(e.movement))
        keys = sorted({(e.movement.material_id, loc) for e in fresh for loc in e.movement.locations})
        cur.execute("SELECT material_id, location_id, lot, quantity, received_at FROM stock_lots "
                    "WHERE (material_id, location_id) IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
                    "ORDER BY material_id, location_id, lot FOR UPDATE",
                    ([k[0] for k in keys], [k[1] for k in keys]))
        rows = cur.fetchall()
        cur.execute("SELECT material_id, location_id FROM reorder_proposals WHERE closed_at IS NULL "
                    "AND material_id = ANY(%s) FOR UPDATE", (materials,))
        stock = _Stock(rows, {(r[0], r[1]) for r in cur.fetchall()}, policies or {})
        for e in fresh:
            stock.apply(e)
        lots = stock.changed_lots()
        cur.execute("INSERT INTO stock_lots (material_id, location_id, lot, quantity, received_at) "
                    "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::numeric[], %s::timestamptz[]) "
                    "ON CONFLICT (material_id, location_id, lot) "
                    "DO UPDATE SET quantity = EXCLUDED.quantity, updated_at = now()",
                    [[row[i] for row in lots] for i in range(5)])
        with cur.copy("COPY movement_lots (movement_id, location_id, lot, quantity) FROM STDIN") as copy:
            copy.set_types(["text", "text", "text", "numeric"])
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
        copy_new_rows(conn, stock.records)  # every posting derives from a movement applied just now
    return len(fresh)
