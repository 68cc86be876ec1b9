"""One truck driving one shipment: departure plan, incidents, the GPS pings it sends and the truth of the trip.

The truck waits at the origin while it is loaded (pinging, parked), drives the route at urban speed near the
sites and cruise speed between them — a mean-reverting speed with noise — and dwells at the destination.
Injected incidents, each drawn per trip with its configured probability:

* ``traffic_jam`` — a stretch of 15-45 min at walking-pace speeds;
* ``breakdown`` — stopped for 30-90 min;
* ``detour`` — leaves the route corridor by 1.5-3 km for 8-15 km, slower;
* ``gps_dropout`` — silence for 10-30 min (those fixes are lost);
* ``buffered_delivery`` — 10-20 min of fixes held by the tracker and delivered together at the end, late,
  with their original timestamps;
* ``outlier`` — one fix kilometres away from the truck.

Ground truth: departure, each incident with its start and end, and the actual arrival (end of route).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from millstream.events.base import WITHOUT_TIME_CHECK
from millstream.events.fleet import GpsPing
from millstream.masterdata import Shipment
from simulators.config import FleetParameters
from simulators.fleet.route import Route
from simulators.groundtruth import Fact

__all__ = ["INCIDENT_KINDS", "Trip", "TripPlan", "drive", "plan_trip"]

INCIDENT_KINDS = ("traffic_jam", "breakdown", "detour", "gps_dropout", "buffered_delivery", "outlier")
_LOADING = timedelta(minutes=20)


@dataclass(frozen=True)
class TripPlan:
    """When a shipment leaves (after loading at the origin) and how long the drive should take undisturbed."""

    shipment: Shipment
    loading_from: datetime
    departure: datetime
    expected_drive: timedelta


@dataclass(frozen=True)
class Trip:
    """The pings of a trip as ``(deliver_at, ping)`` in delivery order, and what really happened."""

    plan: TripPlan
    pings: list[tuple[datetime, GpsPing]]
    facts: list[Fact]
    arrival: datetime


def _expected_drive_s(route: Route, params: FleetParameters) -> float:
    urban = min(route.length_m, 2 * params.urban_radius_km * 1000.0)
    return urban / (params.urban_speed_kmh / 3.6) + (route.length_m - urban) / (params.cruise_speed_kmh / 3.6)


def plan_trip(shipment: Shipment, seed: int, params: FleetParameters, day: int = 0) -> TripPlan:
    """The departure of ``shipment`` (on repeat ``day``): aimed at the middle of its promised window."""
    rng = random.Random(f"{seed}:fleet-plan:{shipment.id}:{day}")
    route = Route(shipment.route["coordinates"])
    drive_s = _expected_drive_s(route, params)
    window_mid = shipment.promised_from + (shipment.promised_to - shipment.promised_from) / 2
    jitter = rng.uniform(-params.departure_jitter_min, params.departure_jitter_min)
    departure = window_mid - timedelta(seconds=round(drive_s - jitter * 60.0)) + timedelta(days=day)
    return TripPlan(shipment, departure - _LOADING, departure, timedelta(seconds=drive_s))


@dataclass
class _Incidents:
    jam: tuple[float, float, float] | None = None  # (start fraction of the route, duration s, speed km/h)
    breakdown: tuple[float, float] | None = None  # (fraction, duration s)
    detour: tuple[float, float, float] | None = None  # (start fraction, length m, offset m)
    dropout: tuple[float, float] | None = None  # (start s after departure, duration s)
    buffered: tuple[float, float] | None = None
    outlier: tuple[float, float, float] | None = None  # (s after departure, east m, north m)


def _draw_incidents(rng: random.Random, params: FleetParameters, drive_s: float) -> _Incidents:
    inc = _Incidents()
    if rng.random() < params.traffic_jam:
        inc.jam = (rng.uniform(0.15, 0.7), rng.uniform(15, 45) * 60, rng.uniform(5, 20))
    if rng.random() < params.breakdown:
        inc.breakdown = (rng.uniform(0.1, 0.85), rng.uniform(30, 90) * 60)
    if rng.random() < params.detour:
        inc.detour = (rng.uniform(0.2, 0.6), rng.uniform(8, 15) * 1000, rng.choice((-1, 1)) * rng.uniform(1500, 3000))
    if rng.random() < params.gps_dropout:
        inc.dropout = (rng.uniform(0.1, 0.4) * drive_s, rng.uniform(10, 30) * 60)
    if rng.random() < params.buffered_delivery:
        inc.buffered = (rng.uniform(0.55, 0.8) * drive_s, rng.uniform(10, 20) * 60)
    if rng.random() < params.outlier:
        angle, dist = rng.uniform(0, 2 * math.pi), rng.uniform(3000, 20000)
        inc.outlier = (rng.uniform(0.05, 0.95) * drive_s, dist * math.sin(angle), dist * math.cos(angle))
    return inc


def _active(opened: dict[str, float], name: str, fraction: float, elapsed: float, start_fraction: float,
            duration_s: float) -> bool:
    """Whether incident ``name`` (starting at ``start_fraction`` of the route) is under way; notes its start."""
    if name not in opened and fraction >= start_fraction:
        opened[name] = elapsed
    since = opened.get(name)
    return since is not None and elapsed - since <= duration_s


def drive(plan: TripPlan, seed: int, params: FleetParameters, day: int = 0) -> Trip:
    """Play the trip of ``plan``: every ping (with its delivery time) and the ground truth."""
    shipment = plan.shipment
    truck = shipment.truck_id
    rng = random.Random(f"{seed}:fleet-drive:{shipment.id}:{day}")
    route = Route(shipment.route["coordinates"])
    inc = _draw_incidents(rng, params, plan.expected_drive.total_seconds())
    step = params.ping_interval_s
    facts: list[Fact] = []
    pings: list[tuple[datetime, GpsPing]] = []
    ids = {"shipment_id": shipment.id, "truck_id": truck, "day": day}

    def ping(at: datetime, lon: float, lat: float, speed: float, heading: float | None) -> GpsPing:
        sigma = params.gps_noise_m
        lon, lat = route.displaced(lon, lat, rng.gauss(0, sigma), rng.gauss(0, sigma))
        return GpsPing.model_validate({"truck_id": truck, "lat": round(lat, 6), "lon": round(lon, 6),
                                       "speed_kmh": round(max(0.0, speed), 1),
                                       "heading_deg": None if heading is None else round(heading, 1) % 360.0,
                                       "accuracy_m": round(max(3.0, sigma * rng.uniform(0.8, 2.0)), 1),
                                       "timestamp": at}, context=WITHOUT_TIME_CHECK)

    origin = route.position(0.0)
    t = plan.loading_from
    while t <= plan.departure:
        pings.append((t, ping(t, origin[0], origin[1], 0.0, None)))
        t += timedelta(seconds=step)
    facts.append(Fact(plan.departure, "departure", truck, {**ids}))

    distance, speed, elapsed = 0.0, 0.0, 0.0
    events_open: dict[str, float] = {}
    urban_m = params.urban_radius_km * 1000.0
    outlier_sent = False
    while distance < route.length_m:
        elapsed += step
        at = plan.departure + timedelta(seconds=elapsed)
        fraction = distance / route.length_m
        target = params.urban_speed_kmh if (distance < urban_m or route.length_m - distance < urban_m) \
            else params.cruise_speed_kmh
        offset = 0.0
        stopped = False
        if inc.jam is not None and _active(events_open, "traffic_jam", fraction, elapsed, inc.jam[0], inc.jam[1]):
            target = min(target, inc.jam[2])
        if inc.breakdown is not None:
            stopped = _active(events_open, "breakdown", fraction, elapsed, *inc.breakdown)
        if inc.detour is not None:
            start_m, length_m, off = inc.detour[0] * route.length_m, inc.detour[1], inc.detour[2]
            if start_m <= distance <= start_m + length_m:
                events_open.setdefault("detour", elapsed)
                offset = off * max(0.0, math.sin(math.pi * (distance - start_m) / length_m)) ** 0.5
                target *= 0.7
            elif distance > start_m + length_m and "detour" in events_open:
                events_open.setdefault("detour_end", elapsed)
        if stopped:
            speed = 0.0
        else:
            speed += 0.25 * (target - speed) + rng.gauss(0.0, 2.0)
            speed = min(max(speed, 2.0), 110.0)
            distance = min(route.length_m, distance + speed / 3.6 * step)
        lon, lat, heading = route.position(distance, offset)
        if inc.dropout and inc.dropout[0] <= elapsed < inc.dropout[0] + inc.dropout[1]:
            continue
        fix = ping(at, lon, lat, speed, heading if speed > 0 else None)
        deliver = at
        if inc.buffered and inc.buffered[0] <= elapsed < inc.buffered[0] + inc.buffered[1]:
            deliver = plan.departure + timedelta(seconds=inc.buffered[0] + inc.buffered[1])
        if inc.outlier and not outlier_sent and elapsed >= inc.outlier[0] and deliver == at:
            outlier_sent = True
            o_lon, o_lat = route.displaced(lon, lat, inc.outlier[1], inc.outlier[2])
            fix = ping(at, o_lon, o_lat, speed, heading if speed > 0 else None)
            facts.append(Fact(at, "incident", truck, {**ids, "incident": "outlier", "start": at.isoformat(),
                                                      "end": at.isoformat(),
                                                      "jump_m": round(math.hypot(inc.outlier[1], inc.outlier[2]))}))
        pings.append((deliver, fix))
    arrival = plan.departure + timedelta(seconds=elapsed)

    def window(name: str, start_s: float | None, duration_s: float) -> None:
        if start_s is None or start_s > elapsed:
            return
        start = plan.departure + timedelta(seconds=start_s)
        end = min(arrival, start + timedelta(seconds=duration_s))
        facts.append(Fact(start, "incident", truck, {**ids, "incident": name, "start": start.isoformat(),
                                                     "end": end.isoformat()}))

    if inc.jam:
        window("traffic_jam", events_open.get("traffic_jam"), inc.jam[1])
    if inc.breakdown:
        window("breakdown", events_open.get("breakdown"), inc.breakdown[1])
    if inc.detour and "detour" in events_open:
        window("detour", events_open["detour"], events_open.get("detour_end", elapsed) - events_open["detour"])
        facts[-1].details["offset_m"] = round(abs(inc.detour[2]))
    if inc.dropout:
        window("gps_dropout", inc.dropout[0], inc.dropout[1])
    if inc.buffered:
        window("buffered_delivery", inc.buffered[0], inc.buffered[1])
    promised_from = shipment.promised_from + timedelta(days=day)
    promised_to = shipment.promised_to + timedelta(days=day)
    late_min = max(0.0, (arrival - promised_to).total_seconds() / 60.0)
    facts.append(Fact(arrival, "arrival", truck, {**ids, "destination_site_id": shipment.destination_site_id,
                                                  "promised_from": promised_from.isoformat(),
                                                  "promised_to": promised_to.isoformat(),
                                                  "late_minutes": round(late_min, 1)}))
    end = route.position(route.length_m)
    t = arrival + timedelta(seconds=step)
    while t <= arrival + timedelta(minutes=params.dwell_after_arrival_min):
        pings.append((t, ping(t, end[0], end[1], 0.0, None)))
        t += timedelta(seconds=step)
    pings.sort(key=lambda item: (item[0], item[1].timestamp))
    facts.sort(key=lambda f: f.time)
    return Trip(plan, pings, facts, arrival)

