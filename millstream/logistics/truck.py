"""One truck's pings -> track, geofence events, shipment state with milestones, ETA, alert conditions, ERP records.

:class:`Logistics` holds what comes from master data (fences, routes, each truck's shipments in promised
order) and the parameters; :meth:`Logistics.on_ping` applies one ping to a :class:`TruckState` (plain data,
kept per truck by the dataflow) and returns what follows from it:

- cleaning (:mod:`millstream.logistics.cleaning`): outliers and late pings are kept in the track but do not move the
  truck;
- geofences (:mod:`millstream.logistics.engine`) over the sites' fences and the shipments' route corridors;
- the active shipment (the first not yet delivered) moves ``planned -> at_origin`` (enters the origin site),
  ``-> departed`` (leaves it), ``-> in_transit`` (``in_transit_after_m`` along the route), ``-> arrived``
  (enters the destination site), ``-> delivered`` (dwells there, or leaves it): each step a milestone with
  its event time, a status-change and a milestone ERP record;
- on the road, the trip's progress along the route on every ping and the ETA (:mod:`millstream.logistics.eta`) every
  ``eta_every_s`` of event time, and at once when the last ETA is no longer ahead of the ping (a truck that has
  not arrived never shows an ETA in the past; standing or crawling, its ETA moves on with the clock); every
  estimate is stored (shipment state as of that ping, ETA history), the ERP gets it only when it moved by more
  than ``eta_publish_s``;
- alert conditions: delay (minutes the early end of the ETA band lies past the window — late even if things
  go well — with each estimate; once arrived, the real lateness every ``eta_every_s`` until delivered, so
  that a late arrival no estimate foresaw is still raised), route deviation
  (outside the corridor: on each change and with each estimate), long dwell at a site (every minute); and a
  :class:`Beat` for the fleet clock's offline check (every ``BEAT_EVERY``, and when the road state changes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from millstream.alert_lifecycle import Condition
from millstream.events import GpsPing
from millstream.events.base import stable_id
from millstream.events.erp import ErpRecord
from millstream.logistics.cleaning import CleaningParameters, CleanPing, PingCleaner, TruckPings
from millstream.logistics.engine import EngineParameters, GeofenceEngine, GeofenceEvent, VehicleFences
from millstream.logistics.eta import Eta, EtaModel, EtaParameters, RouteHistory, TripProgress
from millstream.logistics.fences import FenceSet, fences_from_scenario, route_fence_id, site_fence_id
from millstream.logistics.fleet_history import ArrivedTrip, FleetHistory, TruckTrips
from millstream.logistics.outputs import (
    AlertCondition,
    Beat,
    EtaRow,
    FenceEventRow,
    MilestoneRow,
    PositionRow,
    ShipmentSnapshot,
)
from millstream.logistics.records import eta_record, milestone_record, status_record
from millstream.logistics.replay import target_progress
from millstream.logistics.route import RouteLine
from millstream.masterdata import Scenario, Shipment
from millstream.settings import LogisticsSettings

__all__ = ["DELAY", "DEVIATION", "LONG_DWELL", "OFFLINE", "STATUSES", "Logistics", "ShipmentProgress", "ShipmentStatus",
           "TruckState", "UnknownTruck"]

ShipmentStatus = Literal["planned", "at_origin", "departed", "in_transit", "arrived", "delivered"]
STATUSES: tuple[str, ...] = get_args(ShipmentStatus)
DELAY, DEVIATION, LONG_DWELL, OFFLINE = ("shipment.delay", "shipment.route_deviation", "truck.long_dwell",
                                         "truck.offline")
_ON_THE_ROAD = ("departed", "in_transit")
#: A truck's pings reach the fleet clock at most this often (plus on every change of its road state).
BEAT_EVERY = timedelta(seconds=15)
_DWELL_EVERY = timedelta(seconds=60)


class UnknownTruck(ValueError):
    """A ping of a truck master data does not know, or of one without any shipment."""


@dataclass
class ShipmentProgress:
    status: str = "planned"
    as_of: datetime | None = None
    milestones: dict[str, datetime] = field(default_factory=dict)
    trip: TripProgress | None = None
    published_eta: datetime | None = None
    eta: Eta | None = None
    estimated_at: datetime | None = None
    outside: bool = False
    #: the route's segment history as the fleet had shown it when the trip departed
    history: RouteHistory | None = None


@dataclass
class TruckState:
    """Everything remembered per truck (snapshotted with the flow)."""

    pings: TruckPings = field(default_factory=TruckPings)
    fences: VehicleFences = field(default_factory=VehicleFences)
    shipments: dict[str, ShipmentProgress] = field(default_factory=dict)
    trips: TruckTrips = field(default_factory=TruckTrips)  # its own arrived trips (the fleet's: Logistics.fleet)
    partition: int = 0
    beat: tuple[datetime, bool, str | None] | None = None
    dwell_sampled_at: datetime | None = None


class Logistics:
    """The logistics logic for a scenario's trucks and shipments (see the module docstring)."""

    def __init__(self, scenario: Scenario, params: LogisticsSettings | None = None) -> None:
        p = self.params = params or LogisticsSettings()
        self.scenario = scenario
        self.trucks = {t.id for t in scenario.trucks}
        self.shipments: dict[str, list[Shipment]] = {}
        for sh in sorted(scenario.shipments, key=lambda s: (s.promised_from, s.id)):
            if sh.status not in ("delivered", "cancelled"):
                self.shipments.setdefault(sh.truck_id, []).append(sh)
        self.fences = FenceSet(fences_from_scenario(scenario, p.corridor_m), hysteresis_m=p.hysteresis_m)
        self.engine = GeofenceEngine(self.fences, EngineParameters(
            min_duration=timedelta(seconds=p.debounce_s), dwell_after=timedelta(minutes=p.dwell_min)))
        self.cleaner = PingCleaner(CleaningParameters(max_speed_kmh=p.max_speed_kmh,
                                                      allowed_lateness=timedelta(seconds=p.allowed_lateness_s)))
        self.eta_params = EtaParameters(segment_m=p.segment_m)
        self.routes = {sh.id: RouteLine(sh.route["coordinates"], self.fences.projection)
                       for shs in self.shipments.values() for sh in shs}
        #: shipments driving the same line share its segment history, fleet-wide
        self.fleet = FleetHistory()
        self.route_keys = {sh.id: stable_id("route", *(c for point in sh.route["coordinates"] for c in point[:2]))
                           for shs in self.shipments.values() for sh in shs}
        self.targets = {sid: target_progress(route, self.fences.shapes[self.fences.index_of[
            site_fence_id(self._shipment(sid).destination_site_id)]]) for sid, route in self.routes.items()}

    def _shipment(self, shipment_id: str) -> Shipment:
        return next(sh for shs in self.shipments.values() for sh in shs if sh.id == shipment_id)

    def resume(self, state: TruckState) -> TruckState:
        """A truck's state back from a snapshot: its arrived trips rejoin the fleet's history."""
        self.fleet.adopt(state.trips)
        return state

    def check_truck(self, truck_id: str) -> None:
        """Raise :class:`UnknownTruck` (with the reason) for pings the flow cannot use."""
        if truck_id not in self.trucks:
            msg = f"unknown truck {truck_id!r}: not in master data"
            raise UnknownTruck(msg)
        if truck_id not in self.shipments:
            msg = f"truck {truck_id!r} has no open shipment in master data"
            raise UnknownTruck(msg)

    def active(self, truck_id: str, state: TruckState) -> Shipment | None:
        for sh in self.shipments.get(truck_id, []):
            if state.shipments.setdefault(sh.id, ShipmentProgress()).status != "delivered":
                return sh
        return None

    # -- pings ------------------------------------------------------------------------------------------
    def on_ping(self, state: TruckState, ping: GpsPing, partition: int = 0) -> list[Any]:
        """Apply one ping (read from input ``partition``, which the :class:`Beat` carries on)."""
        out: list[Any] = []
        state.partition = partition
        for clean in self.cleaner.push(ping.truck_id, state.pings, ping.timestamp, ping.lon, ping.lat, ping):
            out.extend(self._clean_ping(state, clean))
        return out

    def on_end(self, truck_id: str, state: TruckState) -> list[Any]:
        """The input ended: release buffered pings and let pending fence changes stand."""
        out: list[Any] = []
        for clean in self.cleaner.flush(truck_id, state.pings):
            out.extend(self._clean_ping(state, clean))
        for event in self.engine.flush(truck_id, state.fences):
            out.extend(self._fence_event(truck_id, state, event, ()))
        return out

    def _clean_ping(self, state: TruckState, clean: CleanPing) -> list[Any]:
        ping: GpsPing = clean.item  # type: ignore[assignment]
        truck = ping.truck_id
        shipment = self.active(truck, state)
        sid = shipment.id if shipment else None
        if clean.verdict != "ok":
            return [PositionRow(ping, sid, clean.verdict, clean.reason)]
        out: list[Any] = []
        levels = self.fences.memberships(ping.lon, ping.lat)
        for event in self.engine.step(truck, state.fences, ping.timestamp, ping.lon, ping.lat, levels):
            out.extend(self._fence_event(truck, state, event, (ping.id,)))
        shipment = self.active(truck, state)
        sid = shipment.id if shipment else None
        out.append(PositionRow(ping, sid, "ok", clean.reason))
        if shipment is not None:
            out.extend(self._on_the_road(state, shipment, ping))
        if state.dwell_sampled_at is None or ping.timestamp - state.dwell_sampled_at >= _DWELL_EVERY:
            state.dwell_sampled_at = ping.timestamp
            out.extend(self._dwell_conditions(state, ping))
        progress = state.shipments[sid] if sid else None
        on_road = progress is not None and progress.status in _ON_THE_ROAD
        if state.beat is None or state.beat[1:] != (on_road, sid) or ping.timestamp - state.beat[0] >= BEAT_EVERY:
            state.beat = (ping.timestamp, on_road, sid)
            out.append(Beat(truck, ping.timestamp, on_road, sid, state.partition))
        return out

    # -- shipment state ---------------------------------------------------------------------------------
    def _fence_event(self, truck: str, state: TruckState, event: GeofenceEvent,
                     evidence: tuple[str, ...]) -> list[Any]:
        out: list[Any] = [FenceEventRow(event)]
        if event.event == "exit" and event.fence.startswith("site:"):
            out.append(AlertCondition(LONG_DWELL, Condition("truck", truck, 0.0, event.time,
                                                            {"site_id": event.fence[5:]})))
        shipment = self.active(truck, state)
        if shipment is None:
            return out
        progress = state.shipments[shipment.id]
        origin, destination = site_fence_id(shipment.origin_site_id), site_fence_id(shipment.destination_site_id)
        step: str | None = None
        if event.fence == origin and event.event == "enter" and progress.status == "planned":
            step = "at_origin"
        elif event.fence == origin and event.event == "exit" and progress.status in ("planned", "at_origin"):
            step = "departed"
        elif event.fence == destination and event.event == "enter" and progress.status in _ON_THE_ROAD:
            step = "arrived"
        elif event.fence == destination and event.event in ("dwell", "exit") and progress.status == "arrived":
            step = "delivered"
        if step is None:
            return out
        out.extend(self._advance(truck, state, shipment, step, event.time, event.lon, event.lat, evidence))
        if step == "departed":
            route = self.routes[shipment.id]
            progress.history = self.fleet.history(self.route_keys[shipment.id], event.time, self.eta_params.segment_m)
            progress.trip = self._model(progress).start(event.time, route.progress(event.lon, event.lat))
        if step == "arrived" and progress.trip is not None:
            trip = ArrivedTrip(shipment.id, event.time, tuple(sorted(progress.trip.paces.items())))
            self.fleet.arrived(state.trips, self.route_keys[shipment.id], trip)
            progress.history, progress.trip.paces = None, {}  # kept in the fleet's history: not in every snapshot
        if step == "delivered":
            nxt = self.active(truck, state)
            if nxt is not None and site_fence_id(nxt.origin_site_id) in state.fences.inside():
                out.extend(self._advance(truck, state, nxt, "at_origin", event.time, event.lon, event.lat, evidence))
        return out

    def _advance(self, truck: str, state: TruckState, shipment: Shipment, step: str, at: datetime, lon: float,
                 lat: float, evidence: tuple[str, ...]) -> list[Any]:
        progress = state.shipments.setdefault(shipment.id, ShipmentProgress())
        previous = progress.status
        progress.status, progress.as_of = step, at
        progress.milestones[step] = at
        site = {"at_origin": shipment.origin_site_id, "departed": shipment.origin_site_id,
                "arrived": shipment.destination_site_id, "delivered": shipment.destination_site_id}.get(step)
        out: list[Any] = [
            MilestoneRow(shipment.id, step, at, truck, lat, lon),
            status_record(shipment.id, truck, previous, step, at, evidence),
            milestone_record(shipment.id, truck, step, at, site, lon, lat, evidence),
        ]
        lateness = None
        if step in ("arrived", "delivered"):
            arrived = progress.milestones.get("arrived", at)
            lateness = (arrived - shipment.promised_to).total_seconds()
            value = lateness / 60.0 if step == "arrived" else 0.0
            out.append(self._delay_condition(shipment, truck, value, at, None, evidence))
        elif progress.eta is not None:
            lateness = (progress.eta.eta - shipment.promised_to).total_seconds()
        out.append(ShipmentSnapshot(shipment.id, truck, step, at, shipment.promised_from, shipment.promised_to,
                                    progress.eta if step in _ON_THE_ROAD else None, lateness))
        if step not in _ON_THE_ROAD:
            out.append(AlertCondition(DEVIATION, Condition("shipment", shipment.id, 0.0, at, {"truck_id": truck})))
        return out

    def _on_the_road(self, state: TruckState, shipment: Shipment, ping: GpsPing) -> list[Any]:
        progress = state.shipments[shipment.id]
        if progress.status == "arrived":
            return self._at_destination(shipment, progress, ping)
        if progress.status not in _ON_THE_ROAD or progress.trip is None:
            return []
        out: list[Any] = []
        truck, at, evidence = ping.truck_id, ping.timestamp, (ping.id,)
        route = self.routes[shipment.id]
        model = self._model(progress)
        # look for the truck along the route as far as it can have driven since the last ping (after a GPS
        # dropout: tens of kilometres, not the default window, which would make it creep there ping by ping)
        reach = max(3000.0, self.params.max_speed_kmh / 3.6 * (at - progress.trip.at).total_seconds())
        model.update(progress.trip, at, route.progress(ping.lon, ping.lat, progress.trip.progress, reach))
        changed = progress.status == "departed" and progress.trip.progress >= self.params.in_transit_after_m
        if changed:
            out.extend(self._advance(truck, state, shipment, "in_transit", at, ping.lon, ping.lat, evidence))
        outside = route_fence_id(shipment.id) not in state.fences.inside()
        # every eta_every_s of event time, and at once when the last ETA is no longer ahead of this ping: the
        # truck has not arrived, so its ETA must not lie in the past (a crawl or a stop pushes it on)
        due = (progress.estimated_at is None or progress.eta is None or progress.eta.eta <= at
               or (at - progress.estimated_at).total_seconds() >= self.params.eta_every_s)
        if outside != progress.outside or due:  # the corridor state on change, and with each estimate
            progress.outside = outside
            out.append(AlertCondition(DEVIATION, Condition(
                "shipment", shipment.id, 1.0 if outside else 0.0, at,
                {"truck_id": truck, "offset_m": round(route.offset_m(ping.lon, ping.lat))}, evidence)))
        if not (due or changed):
            return out
        progress.estimated_at = at
        eta = progress.eta = model.estimate(progress.trip, self.targets[shipment.id])
        lateness = (eta.eta - shipment.promised_to).total_seconds()
        early = (eta.low - shipment.promised_to).total_seconds()  # even the early end of the band is late
        out.append(self._delay_condition(shipment, truck, early / 60.0, at, eta, evidence))
        # every estimate is stored (the shipment's state, as of this ping, and the ETA history); the ERP gets an
        # update only when the ETA moved by more than eta_publish_s
        out += [EtaRow(shipment.id, eta), ShipmentSnapshot(shipment.id, truck, progress.status, at,
                                                           shipment.promised_from, shipment.promised_to, eta, lateness)]
        moved = (progress.published_eta is None
                 or abs((eta.eta - progress.published_eta).total_seconds()) > self.params.eta_publish_s)
        if moved:
            progress.published_eta = eta.eta
            out.append(eta_record(shipment.id, truck, eta, shipment.promised_to, evidence))
        return out

    def _at_destination(self, shipment: Shipment, progress: ShipmentProgress, ping: GpsPing) -> list[Any]:
        """Arrived, not yet delivered: the real lateness, every ``eta_every_s``, so that a late arrival the
        estimates did not foresee is still raised (the rule's minimum duration needs more than one sample)."""
        at = ping.timestamp
        if progress.estimated_at is not None and (at - progress.estimated_at).total_seconds() < self.params.eta_every_s:
            return []
        progress.estimated_at = at
        arrived = progress.milestones.get("arrived", at)
        minutes = (arrived - shipment.promised_to).total_seconds() / 60.0
        return [self._delay_condition(shipment, ping.truck_id, minutes, at, None, (ping.id,))]

    def _model(self, progress: ShipmentProgress) -> EtaModel:
        if progress.history is None:
            progress.history = RouteHistory(self.eta_params.segment_m)
        return EtaModel(progress.history, self.eta_params)

    def _delay_condition(self, shipment: Shipment, truck: str, minutes: float, at: datetime, eta: Eta | None,
                         evidence: tuple[str, ...]) -> AlertCondition:
        details = {"truck_id": truck, "promised_to": shipment.promised_to.isoformat(),
                   "eta": eta.eta.isoformat() if eta else None,
                   "eta_late_min": round((eta.eta - shipment.promised_to).total_seconds() / 60.0, 1) if eta else None}
        return AlertCondition(DELAY, Condition("shipment", shipment.id, round(minutes, 2), at, details, evidence))

    def _dwell_conditions(self, state: TruckState, ping: GpsPing) -> Iterable[AlertCondition]:
        for fid, fs in state.fences.fences.items():
            if fs.inside and fs.entered_at is not None and fid.startswith("site:"):
                minutes = (ping.timestamp - fs.entered_at).total_seconds() / 60.0
                yield AlertCondition(LONG_DWELL, Condition("truck", ping.truck_id, round(minutes, 2), ping.timestamp,
                                                           {"site_id": fid[5:]}, (ping.id,)))

    @staticmethod
    def records(items: Iterable[Any]) -> list[ErpRecord]:
        return [i for i in items if isinstance(i, ErpRecord)]
