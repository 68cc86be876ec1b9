"""Logistics tables (migration 0012): writers for the logistics flow, readers for the API.

Writers are idempotent: positions, geofence events and ETAs insert on their stable id, milestones on
(shipment, milestone), and a shipment's state only moves forward in event time — a replay changes nothing.
:func:`store_outputs` writes a batch of the flow's outputs — these rows and the ERP records — in one
transaction, so a shipment's state and the records announcing it reach the database (and the outbox) together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from connectors.erp.outbox import append_many
from connectors.postgres.database import executemany
from millstream.events.erp import ErpRecord
from millstream.logistics.outputs import EtaRow, FenceEventRow, MilestoneRow, PositionRow, ShipmentSnapshot

__all__ = [
    "list_shipments",
    "shipment_detail",
    "store_etas",
    "store_fence_events",
    "store_milestones",
    "store_outputs",
    "store_positions",
    "truck_track",
    "upsert_shipments",
]


def store_outputs(conn: Any, items: Sequence[Any]) -> int:
    """Every row and ERP record in ``items`` (anything else is ignored), in one transaction; rows added."""
    writers: tuple[tuple[type, Any], ...] = (
        (PositionRow, store_positions), (FenceEventRow, store_fence_events), (MilestoneRow, store_milestones),
        (EtaRow, store_etas), (ShipmentSnapshot, upsert_shipments), (ErpRecord, append_many))
    added = 0
    with conn.transaction():
        for kind, write in writers:
            rows = [i for i in items if isinstance(i, kind)]
            if rows:
                added += write(conn, rows)
    return added


_STAGED_POSITIONS = """
INSERT INTO truck_positions (time, event_id, truck_id, shipment_id, lat, lon, speed_kmh, heading_deg, quality, note)
SELECT time, event_id, truck_id, shipment_id, lat, lon, speed_kmh, heading_deg, quality, note FROM truck_positions_in
ON CONFLICT (event_id, time) DO NOTHING"""


def store_positions(conn: Any, rows: Sequence[PositionRow]) -> int:
    """The track rows: COPY into a session-local staging table, then one idempotent insert (a fraction of the
    cost of one INSERT per row)."""
    if not rows:
        return 0
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS truck_positions_in "
                    "(LIKE truck_positions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
        with cur.copy("COPY truck_positions_in (time, event_id, truck_id, shipment_id, lat, lon, speed_kmh, "
                      "heading_deg, quality, note) FROM STDIN") as copy:
            for r in rows:
                p = r.ping
                copy.write_row((p.timestamp, p.id, p.truck_id, r.shipment_id, p.lat, p.lon, p.speed_kmh, p.heading_deg,
                                r.quality, r.note))
        cur.execute(_STAGED_POSITIONS)
        added = max(cur.rowcount, 0)
        cur.execute("DELETE FROM truck_positions_in")
        return added


def store_fence_events(conn: Any, rows: Sequence[FenceEventRow]) -> int:
    query = """INSERT INTO geofence_events (event_id, truck_id, fence_id, event, at, lat, lon)
               VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING"""
    return executemany(conn, query, [(r.id, r.event.vehicle, r.event.fence, r.event.event, r.event.time,
                                      r.event.lat, r.event.lon) for r in rows])


def store_milestones(conn: Any, rows: Sequence[MilestoneRow]) -> int:
    query = """INSERT INTO shipment_milestones (shipment_id, milestone, at, truck_id, lat, lon)
               VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (shipment_id, milestone) DO NOTHING"""
    return executemany(conn, query, [(r.shipment_id, r.milestone, r.at, r.truck_id, r.lat, r.lon) for r in rows])


def store_etas(conn: Any, rows: Sequence[EtaRow]) -> int:
    query = """INSERT INTO shipment_etas (event_id, shipment_id, computed_at, eta, eta_low, eta_high, naive_eta,
                                         remaining_m)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING"""
    return executemany(conn, query, [(r.id, r.shipment_id, r.eta.at, r.eta.eta, r.eta.low, r.eta.high,
                                      r.eta.naive, r.eta.remaining_m) for r in rows])


def upsert_shipments(conn: Any, rows: Sequence[ShipmentSnapshot]) -> int:
    query = """
INSERT INTO shipment_state AS s (shipment_id, truck_id, status, as_of, promised_from, promised_to, eta, eta_low,
                                 eta_high, remaining_m, lateness_s)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (shipment_id) DO UPDATE SET
    truck_id = excluded.truck_id, status = excluded.status, as_of = excluded.as_of, eta = excluded.eta,
    eta_low = excluded.eta_low, eta_high = excluded.eta_high, remaining_m = excluded.remaining_m,
    lateness_s = excluded.lateness_s
WHERE excluded.as_of >= s.as_of
"""
    latest: dict[str, ShipmentSnapshot] = {}  # a batch holds a snapshot per estimate: the newest one is enough
    for r in rows:
        if r.shipment_id not in latest or r.as_of >= latest[r.shipment_id].as_of:
            latest[r.shipment_id] = r
    rows_ = [(r.shipment_id, r.truck_id, r.status, r.as_of, r.promised_from, r.promised_to,
              r.eta.eta if r.eta else None, r.eta.low if r.eta else None, r.eta.high if r.eta else None,
              r.eta.remaining_m if r.eta else None, r.lateness_s) for r in latest.values()]
    return executemany(conn, query, rows_)


_SHIPMENTS = """
SELECT s.id AS shipment_id, s.truck_id, s.origin_site_id, s.destination_site_id, s.promised_from, s.promised_to,
       COALESCE(st.status, 'planned') AS status, st.as_of, st.eta, st.eta_low, st.eta_high, st.remaining_m,
       st.lateness_s, p.time AS position_at, p.lat, p.lon, p.speed_kmh
FROM shipments s
LEFT JOIN shipment_state st ON st.shipment_id = s.id
LEFT JOIN LATERAL (SELECT time, lat, lon, speed_kmh FROM truck_positions tp
                   WHERE tp.truck_id = s.truck_id AND tp.quality = 'ok' ORDER BY time DESC LIMIT 1) p ON TRUE
"""


def list_shipments(conn: Any, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Every shipment of master data with its tracked state, its truck's last position and ETA band."""
    where, params = ("WHERE COALESCE(st.status, 'planned') = %s", [status]) if status else ("", [])
    rows = conn.execute(_SHIPMENTS + where + " ORDER BY s.promised_from, s.id LIMIT %s", [*params, limit]).fetchall()
    return [dict(r) for r in rows]


def shipment_detail(conn: Any, shipment_id: str) -> dict[str, Any] | None:
    """One shipment with its milestone timeline and the ETAs it was given."""
    row = conn.execute(_SHIPMENTS + "WHERE s.id = %s", [shipment_id]).fetchone()
    if row is None:
        return None
    detail = dict(row)
    detail["milestones"] = [dict(r) for r in conn.execute(
        "SELECT milestone, at, lat, lon FROM shipment_milestones WHERE shipment_id = %s ORDER BY at, milestone",
        [shipment_id]).fetchall()]
    detail["etas"] = [dict(r) for r in conn.execute(
        "SELECT computed_at, eta, eta_low, eta_high, naive_eta, remaining_m FROM shipment_etas "
        "WHERE shipment_id = %s ORDER BY computed_at", [shipment_id]).fetchall()]
    return detail


def truck_track(conn: Any, truck_id: str, since: datetime | None = None, until: datetime | None = None,
                limit: int = 5000, include_rejected: bool = False) -> list[dict[str, Any]]:
    """A truck's positions in time order (``ok`` ones unless ``include_rejected``)."""
    query = ("SELECT time, lat, lon, speed_kmh, heading_deg, quality, shipment_id FROM truck_positions "
             "WHERE truck_id = %s AND (%s::timestamptz IS NULL OR time >= %s) "
             "AND (%s::timestamptz IS NULL OR time < %s) AND (%s OR quality = 'ok') ORDER BY time LIMIT %s")
    rows = conn.execute(query, [truck_id, since, since, until, until, include_rejected, limit]).fetchall()
    return [dict(r) for r in rows]
