"""The latest connection status per OPC-UA endpoint (table ``opcua_endpoint_status``, read by the UI).

:func:`store_endpoint_status` upserts each :class:`EndpointStatus` unless the stored one is newer (``since``),
so a replay of ``telemetry.status`` leaves the table as it was, and statuses arriving in order win in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.postgres.database import executemany
from millstream.events.connectivity import EndpointStatus

__all__ = ["store_endpoint_status"]

_UPSERT = """
INSERT INTO opcua_endpoint_status AS s (endpoint, url, state, since, offline_since, attempts, reason, event_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (endpoint) DO UPDATE
SET url = EXCLUDED.url, state = EXCLUDED.state, since = EXCLUDED.since, offline_since = EXCLUDED.offline_since,
    attempts = EXCLUDED.attempts, reason = EXCLUDED.reason, event_id = EXCLUDED.event_id
WHERE s.since <= EXCLUDED.since AND s.event_id IS DISTINCT FROM EXCLUDED.event_id
"""


def store_endpoint_status(conn: Any, statuses: Sequence[EndpointStatus]) -> int:
    """Upsert each status (in order); returns how many rows changed."""
    rows = [(s.endpoint, s.url, s.state, s.since, s.offline_since, s.attempts, s.reason, s.id) for s in statuses]
    return executemany(conn, _UPSERT, rows)
