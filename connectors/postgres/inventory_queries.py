"""Read the stock ledger for the API: stock per material x location (with lots, policy and demand), movements
and stock exceptions, filtered and paged. All SQL is parameterised; filters are fixed fragments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.postgres.filters import Filters

__all__ = ["list_exceptions", "list_movements", "list_stock"]

_STOCK = """
WITH last AS (SELECT coalesce(max(occurred_at), now()) AS t FROM stock_movements),
lots AS (
    SELECT material_id, location_id, sum(quantity) AS quantity,
           coalesce(jsonb_agg(jsonb_build_object('lot', lot, 'quantity', quantity, 'received_at', received_at)
                              ORDER BY received_at, lot) FILTER (WHERE quantity <> 0), '[]'::jsonb) AS lots
    FROM stock_lots GROUP BY material_id, location_id
),
hours AS (
    SELECT m.material_id, m.from_location_id AS location_id,
           floor(extract(epoch FROM last.t - m.occurred_at) / 3600)::int AS ago, sum(m.quantity) AS quantity
    FROM stock_movements m, last
    WHERE m.from_location_id IS NOT NULL AND m.occurred_at > last.t - interval '24 hours'
    GROUP BY 1, 2, 3
),
demand AS (
    SELECT material_id, location_id, jsonb_object_agg(ago, quantity) AS hourly FROM hours GROUP BY 1, 2
)
SELECT l.material_id, l.location_id, l.quantity, l.lots, p.reorder_point, p.safety_stock, p.max_stock,
       p.order_multiple, p.lead_time_h, p.service_z, coalesce(d.hourly, '{}'::jsonb) AS hourly, last.t AS as_of
FROM lots l CROSS JOIN last
LEFT JOIN stock_policies p ON p.material_id = l.material_id AND p.location_id = l.location_id
LEFT JOIN demand d ON d.material_id = l.material_id AND d.location_id = l.location_id
"""


def list_stock(conn: Any, *, material_id: str | None = None, location_id: str | None = None,
               limit: int = 500, offset: int = 0) -> list[dict[str, Any]]:
    """Stock rows per material x location with their lots, stock policy and the last 24 h of hourly demand
    (``hourly``: hours ago -> quantity) relative to the latest movement (``as_of``)."""
    where = Filters().add("l.material_id = %s", material_id).add("l.location_id = %s", location_id)
    sql = f"{_STOCK} {where.clause} ORDER BY l.location_id, l.material_id LIMIT %s OFFSET %s"
    return list(conn.execute(sql, [*where.params, limit, offset]).fetchall())


def list_movements(conn: Any, *, movement_type: list[str] | None = None, material_id: str | None = None,
                   location_id: str | None = None, reference: str | None = None, since: datetime | None = None,
                   until: datetime | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Movements, newest first."""
    where = (Filters().add("movement_type = ANY(%s)", movement_type).add("material_id = %s", material_id)
             .add("(from_location_id = %s OR to_location_id = %s)", location_id, times=2)
             .add("reference = %s", reference).add("occurred_at >= %s", since).add("occurred_at < %s", until))
    sql = (f"SELECT * FROM stock_movements {where.clause} "  # noqa: S608 - fixed fragments, values are parameters
           "ORDER BY occurred_at DESC, movement_id LIMIT %s OFFSET %s")
    return list(conn.execute(sql, [*where.params, limit, offset]).fetchall())


def list_exceptions(conn: Any, *, material_id: str | None = None, location_id: str | None = None,
                    limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Stock exceptions, newest first, with the movement that caused each."""
    where = Filters().add("e.material_id = %s", material_id).add("e.location_id = %s", location_id)
    sql = ("SELECT e.*, m.movement_type, m.reference FROM stock_exceptions e "  # noqa: S608 - fixed fragments
           f"JOIN stock_movements m USING (movement_id) {where.clause} "
           "ORDER BY e.occurred_at DESC, e.movement_id LIMIT %s OFFSET %s")
    return list(conn.execute(sql, [*where.params, limit, offset]).fetchall())
