"""RFID gate reads -> gate passes -> stock movements.

1. :func:`identify` decodes a read's EPC (SGTIN-96 or SSCC-96, :mod:`millstream.epc`), finds its reader's
   gate location and what the tag stands for; an invalid EPC, an unknown reader or an EPC mapped to no
   material raises :class:`GateReadError` (the flow makes it a dead letter with the reason).
2. The reads of one EPC that follow each other within the dedup window (a session, across readers and
   antennas, decided in event time by :mod:`millstream.inventory.sessions`) are one candidate pass;
   :func:`decide_pass` keeps the reader that saw the tag strongest (peak RSSI, then most reads) and drops the
   others' reads as strays from a neighbouring door. A pass whose best read is weaker than ``min_rssi_dbm``
   was only glimpsed from next door: no pass at all.
3. :func:`pass_movement` infers the direction from the reader's role: an inbound dock receives into the
   put-away warehouse, an outbound dock issues to the shipment being loaded, a line-side gate transfers from
   the warehouse to the line side; a dock for both directions receives what is expected there (an SSCC of
   a receipt) and otherwise issues to a shipment carrying the material.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from millstream.epc import EpcError, Sgtin96, Sscc96, decode_epc
from millstream.events.base import stable_id
from millstream.events.warehouse import RfidRead
from millstream.inventory.catalog import Catalog, EpcTarget
from millstream.inventory.movements import Movement, quantity
from millstream.masterdata import Location

__all__ = ["GatePass", "GateRead", "GateReadError", "decide_pass", "identify", "pass_movement"]


class GateReadError(ValueError):
    """A read that cannot become part of a pass; ``error_type`` names the kind of problem."""

    def __init__(self, error_type: str, reason: str) -> None:
        super().__init__(reason)
        self.error_type = error_type


@dataclass(frozen=True)
class GateRead:
    """A read with its decoded tag, gate location and meaning."""

    read: RfidRead
    epc_uri: str
    code: str  # GTIN-14 or SSCC-18
    scheme: str
    location: Location
    target: EpcTarget


@dataclass(frozen=True)
class GatePass:
    """A tag that passed the gate at ``location_id``: the deduplicated reads of its reader."""

    epc: str
    epc_uri: str
    code: str
    scheme: str
    reader_id: str
    location_id: str
    site_id: str
    material_id: str
    quantity: float
    receipt_id: str | None
    first_seen_at: datetime
    reads: int
    antennas: int
    peak_rssi_dbm: float | None
    read_ids: tuple[str, ...]
    stray_reads: int

    @property
    def id(self) -> str:
        return stable_id("gate_pass", self.epc, self.reader_id, self.first_seen_at)


@lru_cache(maxsize=65536)
def _decode(epc: str) -> Sgtin96 | Sscc96:
    return decode_epc(epc)


def identify(read: RfidRead, catalog: Catalog) -> GateRead:
    """Decode and look up one read; :class:`GateReadError` says why it cannot be used."""
    location = catalog.readers.get(read.reader_id)
    if location is None:
        raise GateReadError("unknown_reader", f"reader {read.reader_id!r} is not at any gate in the master data")
    try:
        tag = _decode(read.epc)
    except EpcError as exc:
        raise GateReadError("invalid_epc", str(exc)) from None
    if isinstance(tag, Sgtin96):
        code, target = tag.gtin, catalog.by_gtin.get(tag.gtin)
    else:
        code, target = tag.sscc, catalog.by_sscc.get(tag.sscc)
    if target is None:
        raise GateReadError("unmapped_epc", f"EPC {tag.epc_uri} ({tag.scheme} {code}) maps to no material")
    return GateRead(read, tag.epc_uri, code, tag.scheme, location, target)


def _strength(reads: list[GateRead]) -> tuple[float, int, str]:
    peak = max((r.read.rssi_dbm for r in reads if r.read.rssi_dbm is not None), default=float("-inf"))
    return peak, len(reads), reads[0].read.reader_id


def decide_pass(reads: list[GateRead], min_rssi_dbm: float) -> GatePass | None:
    """The pass of one EPC's session of reads (see the module docstring), or ``None`` if only strays."""
    by_reader: dict[str, list[GateRead]] = {}
    for r in sorted(reads, key=lambda r: (r.read.timestamp, r.read.id)):
        by_reader.setdefault(r.read.reader_id, []).append(r)
    best = max(by_reader.values(), key=_strength)
    peak, count, reader = _strength(best)
    if peak != float("-inf") and peak < min_rssi_dbm:
        return None
    first = best[0]
    return GatePass(
        epc=first.read.epc, epc_uri=first.epc_uri, code=first.code, scheme=first.scheme, reader_id=reader,
        location_id=first.location.id, site_id=first.location.site_id, material_id=first.target.material_id,
        quantity=first.target.quantity, receipt_id=first.target.receipt_id, first_seen_at=first.read.timestamp,
        reads=count, antennas=len({r.read.antenna for r in best}),
        peak_rssi_dbm=None if peak == float("-inf") else peak, read_ids=tuple(r.read.id for r in best),
        stray_reads=len(reads) - count)


def _direction(gate: GatePass, catalog: Catalog) -> str | None:
    location = catalog.locations[gate.location_id]
    if location.kind == "line_side":
        return "transfer"
    if location.direction == "inbound":
        return "goods_receipt"
    if location.direction == "outbound":
        return "goods_issue"
    if gate.receipt_id is not None:
        return "goods_receipt"
    if catalog.shipment_for(gate.site_id, gate.material_id, gate.first_seen_at) is not None:
        return "goods_issue"
    return "goods_receipt"


def pass_movement(gate: GatePass, catalog: Catalog) -> Movement:
    """The movement a pass means; :class:`GateReadError` when the site has no warehouse for the material."""
    kind = _direction(gate, catalog)
    store = catalog.put_away(gate.site_id, gate.material_id)
    if store is None:
        raise GateReadError("no_put_away", f"site {gate.site_id} has no warehouse for {gate.material_id}")
    common = {"material_id": gate.material_id, "quantity": quantity(gate.quantity), "occurred_at": gate.first_seen_at,
              "source_id": gate.id, "epc": gate.epc_uri, "evidence_ids": gate.read_ids[:20]}
    if kind == "goods_receipt":
        return Movement(movement_type="goods_receipt", to_location_id=store, lot=gate.code,
                        reference=gate.receipt_id, **common)
    if kind == "transfer":
        return Movement(movement_type="transfer", from_location_id=store, to_location_id=gate.location_id, **common)
    shipment = catalog.shipment_for(gate.site_id, gate.material_id, gate.first_seen_at)
    return Movement(movement_type="goods_issue", from_location_id=store,
                    reference=shipment.id if shipment else None, **common)
