"""The real route-14 bus traces (tests/data/gps): every origin exit and destination arrival the data holds is
found once, and the mid-trip ETA beats the naive one by >= 30 % — through ``millstream replay gps``.

The expected exits and arrivals are derived here from the raw CSV with the csv module and a haversine, per
``trip_id`` (a column the engine never reads): a trip *exits the origin* if it has a fix within the origin
circle followed by one more than 300 m away; it *arrives* if, after a fix more than 1 km from the
destination, it has one within the destination circle.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.helpers.paths import ROOT

DATA = ROOT / "tests" / "data" / "gps"
CSV = DATA / "liverpool_route14_outbound.csv"
FENCES = DATA / "route14_fences.geojson"
FAR_M = 1000.0
LEFT_M = 300.0  # clearly out of the origin circle (150 m) and its 50 m exit band


def _haversine(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def _circles() -> dict[str, tuple[float, float, float]]:
    features = json.loads(FENCES.read_text())["features"]
    return {f["id"]: (*f["geometry"]["coordinates"], f["properties"]["radius_m"]) for f in features}


def _trips() -> dict[str, list[tuple[datetime, float, float, str]]]:
    trips: dict[str, list[tuple[datetime, float, float, str]]] = defaultdict(list)
    with CSV.open(newline="") as handle:
        for row in csv.DictReader(handle):
            at = datetime.fromisoformat(row["timestamp"]).replace(tzinfo=UTC)
            trips[row["trip_id"]].append((at, float(row["longitude"]), float(row["latitude"]), row["vehicle_id"]))
    return {k: sorted(v) for k, v in trips.items()}


def _expected(fence: str, kind: str) -> dict[str, tuple[datetime, datetime, str]]:
    """trip -> (earliest, latest) time the event may carry, and the vehicle."""
    lon0, lat0, radius = _circles()[fence]
    found = {}
    for trip, fixes in _trips().items():
        dist = [_haversine(lon, lat, lon0, lat0) for _, lon, lat, _ in fixes]
        if kind == "exit":
            inside = [i for i, d in enumerate(dist) if d < radius - 5]
            far = [i for i, d in enumerate(dist) if d > LEFT_M and inside and i > inside[0]]
            if inside and far:
                last_in = max(i for i in inside if i < far[0])
                found[trip] = (fixes[last_in][0], fixes[far[0]][0], fixes[0][3])
        else:
            far = [i for i, d in enumerate(dist) if d > FAR_M]
            inside = [i for i, d in enumerate(dist) if d < radius - 5 and far and i > far[0]]
            if far and inside:
                last_out = max(i for i, d in enumerate(dist) if d > radius + 5 and i < inside[0])
                found[trip] = (fixes[last_out][0], fixes[inside[0]][0], fixes[0][3])
    return found


@pytest.fixture(scope="module")
def replayed() -> list[dict[str, object]]:
    result = CliRunner().invoke(app, ["replay", "gps", str(CSV), "--geofences", str(FENCES),
                                      "--eta-to", "petherick-road", "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _events(lines: list[dict[str, object]], fence: str, kind: str) -> list[tuple[str, datetime]]:
    return [(str(e["vehicle"]), datetime.fromisoformat(str(e["time"]))) for e in lines
            if e.get("fence") == fence and e.get("event") == kind]


@pytest.mark.parametrize(("fence", "kind"), [("queen-square", "exit"), ("petherick-road", "enter")])
def test_every_origin_exit_and_arrival_once(replayed: list[dict[str, object]], fence: str, kind: str) -> None:
    expected = _expected(fence, kind)
    events = _events(replayed, fence, kind)
    assert len(expected) >= 10  # the data holds 13 exits, 10 arrivals
    assert len(events) == len(expected), (sorted(expected), events)
    unmatched = list(events)
    for trip, (earliest, latest, vehicle) in expected.items():
        hits = [e for e in unmatched if e[0] == vehicle and earliest <= e[1] <= latest]
        assert len(hits) == 1, f"trip {trip}: {hits}"
        unmatched.remove(hits[0])
    assert not unmatched


def test_no_flapping_at_the_fences(replayed: list[dict[str, object]]) -> None:
    by_vehicle: dict[tuple[str, str], list[str]] = defaultdict(list)
    for e in replayed:
        if "event" in e and e["event"] in ("enter", "exit"):
            by_vehicle[(str(e["vehicle"]), str(e["fence"]))].append(str(e["event"]))
    for key, seq in by_vehicle.items():
        assert all(a != b for a, b in itertools.pairwise(seq)), (key, seq)  # strictly alternating
    # never an exit within a minute of the enter before it (what a flap looks like)
    events = [e for e in replayed if e.get("event") in ("enter", "exit")]
    last_enter: dict[tuple[str, str], datetime] = {}
    for e in events:
        key, at = (str(e["vehicle"]), str(e["fence"])), datetime.fromisoformat(str(e["time"]))
        if e["event"] == "enter":
            last_enter[key] = at
        elif key in last_enter:
            assert (at - last_enter[key]).total_seconds() > 60, (key, at)


def test_mid_trip_eta_beats_the_naive_one(replayed: list[dict[str, object]]) -> None:
    trips = [e for e in replayed if "trip" in e]
    summary = next(e for e in replayed if e.get("summary"))
    arrivals = _expected("petherick-road", "enter")
    assert {t["trip"] for t in trips} == set(arrivals)
    errors = {"eta": [], "naive": []}
    for t in trips:
        arrived = datetime.fromisoformat(str(t["arrived"]))
        for name, key in (("eta", "eta_at_midtrip"), ("naive", "naive_eta_at_midtrip")):
            errors[name].append(abs((datetime.fromisoformat(str(t[key])) - arrived).total_seconds()))
    eta_mae = sum(errors["eta"]) / len(trips)
    naive_mae = sum(errors["naive"]) / len(trips)
    assert summary["eta_mae_s"] == pytest.approx(eta_mae, abs=0.1)
    assert summary["naive_mae_s"] == pytest.approx(naive_mae, abs=0.1)
    assert eta_mae <= 0.7 * naive_mae, (eta_mae, naive_mae)
