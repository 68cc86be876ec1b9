"""RFID gate passes in ``gate_events``: the EPCIS export and the EPCs that left on each shipment.

:func:`store_gate_events` is a :class:`~connectors.postgres.sink.PostgresSink` writer (one row per pass id,
``ON CONFLICT DO NOTHING``); :func:`query_gate_events` pages through them for ``GET /api/v1/epcis/events``
in (time, id) order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.postgres.filters import Filters
from millstream.inventory.epcis import EPCIS_STEPS
from millstream.inventory.gates import GatePass
from millstream.inventory.movements import Movement

__all__ = ["query_gate_events", "store_gate_events"]

_INSERT = """
INSERT INTO gate_events (event_id, movement_id, epc, epc_uri, reader_id, location_id, site_id, biz_step,
                         disposition, action, shipment_id, material_id, quantity, first_seen_at, reads,
                         peak_rssi_dbm)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (event_id) DO NOTHING
"""


def _row(gate: GatePass, movement: Movement) -> tuple[Any, ...]:
    biz_step, disposition = EPCIS_STEPS[movement.movement_type]
    shipment = movement.reference if movement.movement_type == "goods_issue" else None
    return (gate.id, movement.id, gate.epc, gate.epc_uri, gate.reader_id, gate.location_id, gate.site_id, biz_step,
            disposition, "OBSERVE", shipment, gate.material_id, movement.quantity, gate.first_seen_at, gate.reads,
            gate.peak_rssi_dbm)


def store_gate_events(conn: Any, items: list[tuple[GatePass, Movement]]) -> int:
    """Store gate passes with the movement each made; returns how many were new."""
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(_INSERT, [_row(g, m) for g, m in items])
        return cur.rowcount if cur.rowcount >= 0 else len(items)


def query_gate_events(conn: Any, *, since: datetime | None = None, until: datetime | None = None,
                      location_id: str | None = None, epc_uri: str | None = None,
                      after: tuple[datetime, str] | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Gate events (with their movement's destination and reference) in (time, id) order, from ``after``."""
    where = (Filters().add("g.first_seen_at >= %s", since).add("g.first_seen_at < %s", until)
             .add("(g.location_id = %s OR m.to_location_id = %s)", location_id, times=2)
             .add("g.epc_uri = %s", epc_uri).add_row("(g.first_seen_at, g.event_id) > (%s, %s)", after))
    sql = ("SELECT g.*, m.movement_type, m.to_location_id, m.reference FROM gate_events g "  # noqa: S608 - fixed
           f"LEFT JOIN stock_movements m ON m.movement_id = g.movement_id {where.clause} "
           "ORDER BY g.first_seen_at, g.event_id LIMIT %s")
    return list(conn.execute(sql, [*where.params, limit]).fetchall())
