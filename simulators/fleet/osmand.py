"""GPS pings as OsmAnd protocol HTTP requests, the way Traccar-style trackers report to a server.

One request per fix: ``POST <url>?id=<truck>&lat=..&lon=..&timestamp=..&speed=..&bearing=..&accuracy=..``.
``timestamp`` is Unix seconds (ISO 8601 when the fix has a fraction of a second), ``speed`` is in knots as in
Traccar's OsmAnd decoder, ``bearing`` in degrees, ``accuracy`` in metres. A server answers 200 to accept.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from millstream.events.fleet import GpsPing

__all__ = ["KMH_PER_KNOT", "OsmandSender", "osmand_params"]

logger = logging.getLogger(__name__)

KMH_PER_KNOT = 1.852


def osmand_params(ping: GpsPing) -> dict[str, str]:
    """The OsmAnd query parameters of ``ping``."""
    stamp = ping.timestamp
    params = {
        "id": ping.truck_id,
        "lat": f"{ping.lat:.6f}",
        "lon": f"{ping.lon:.6f}",
        "timestamp": str(int(stamp.timestamp())) if stamp.microsecond == 0 else stamp.isoformat(),
        "speed": f"{ping.speed_kmh / KMH_PER_KNOT:.2f}",
    }
    if ping.heading_deg is not None:
        params["bearing"] = f"{ping.heading_deg:.1f}"
    if ping.accuracy_m is not None:
        params["accuracy"] = f"{ping.accuracy_m:.1f}"
    return params


class OsmandSender:
    """Sends pings to an OsmAnd endpoint; counts accepted and refused requests (never raises per ping)."""

    def __init__(self, url: str, timeout_s: float = 5.0, **client_options: Any) -> None:
        self.url = url
        self._client = httpx.Client(timeout=timeout_s, **client_options)
        self.accepted = 0
        self.failed = 0

    def send(self, ping: GpsPing) -> None:
        try:
            response = self._client.post(self.url, params=osmand_params(ping))
        except httpx.HTTPError as exc:
            self.failed += 1
            logger.error("OsmAnd request for %s to %s failed: %s", ping.truck_id, self.url, exc)
            return
        if response.is_success:
            self.accepted += 1
        else:
            self.failed += 1
            logger.error("OsmAnd endpoint %s answered %s for %s", self.url, response.status_code, ping.truck_id)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OsmandSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
