"""What the per-truck processing emits: rows for the logistics tables, alert conditions, fleet beats.

Each row has a stable id or key, so the writers in :mod:`connectors.postgres.logistics` are idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from millstream.alert_lifecycle import Condition
from millstream.events import GpsPing
from millstream.events.base import stable_id
from millstream.logistics.engine import GeofenceEvent
from millstream.logistics.eta import Eta

__all__ = ["AlertCondition", "Beat", "EtaRow", "FenceEventRow", "MilestoneRow", "PositionRow", "ShipmentSnapshot"]


@dataclass(frozen=True)
class PositionRow:
    """A ping as the truck's track keeps it: ``quality`` ok, outlier (did not move the truck) or late."""

    ping: GpsPing
    shipment_id: str | None
    quality: str
    note: str = ""


@dataclass(frozen=True)
class FenceEventRow:
    event: GeofenceEvent

    @property
    def id(self) -> str:
        e = self.event
        return stable_id("geofence_event", e.vehicle, e.fence, e.event, e.time)


@dataclass(frozen=True)
class MilestoneRow:
    shipment_id: str
    milestone: str
    at: datetime
    truck_id: str
    lat: float | None
    lon: float | None


@dataclass(frozen=True)
class ShipmentSnapshot:
    """A shipment's state after a change or an ETA estimate (upserted when ``as_of`` is not older than the
    stored one)."""

    shipment_id: str
    truck_id: str
    status: str
    as_of: datetime
    promised_from: datetime
    promised_to: datetime
    eta: Eta | None
    lateness_s: float | None


@dataclass(frozen=True)
class EtaRow:
    shipment_id: str
    eta: Eta

    @property
    def id(self) -> str:
        return stable_id("shipment_eta", self.shipment_id, self.eta.at)


@dataclass(frozen=True)
class AlertCondition:
    """A condition sample for the shared alert lifecycle, tagged with the alert type it feeds."""

    alert_type: str
    condition: Condition


@dataclass(frozen=True)
class Beat:
    """A truck was seen at ``at`` (event time); ``in_transit`` with ``shipment_id`` while on the road."""

    truck_id: str
    at: datetime
    in_transit: bool
    shipment_id: str | None
    partition: int = 0
