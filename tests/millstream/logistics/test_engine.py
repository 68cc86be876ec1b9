"""The geofence engine, ping cleaning and the fleet clock on constructed tracks: jitter at a fence edge does not
flap, debounce and dwell, polygon and corridor fences, outliers and late pings, offline in event time."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from shapely.geometry import LineString, Point, Polygon

from millstream.logistics.cleaning import CleaningParameters, PingCleaner, TruckPings, check_position
from millstream.logistics.engine import EngineParameters, GeofenceEngine
from millstream.logistics.fences import Fence, FenceSet, GeofenceError, fence_from_feature
from millstream.logistics.fleet_clock import FleetClock
from millstream.logistics.outputs import Beat

T0 = datetime(2026, 1, 26, 12, 0, tzinfo=UTC)
LON0, LAT0 = -2.98, 53.40
M_PER_DEG_LAT = 111_195.0


def north(metres: float) -> float:
    """Latitude ``metres`` north of LAT0."""
    return LAT0 + metres / M_PER_DEG_LAT


def circle(fid: str = "depot", radius: float = 100.0) -> Fence:
    return Fence(fid, "circle", Point(LON0, LAT0), radius_m=radius)


def run(engine: GeofenceEngine, track: list[tuple[float, float, float]], vehicle: str = "T1") -> list[tuple[str, str,
                                                                                                          float]]:
    """Events of ``(seconds, lon, lat)`` fixes as ``(fence, event, seconds)``."""
    pings = [(vehicle, T0 + timedelta(seconds=s), lon, lat) for s, lon, lat in track]
    events = [*engine.run(pings), *engine.finish()]
    return [(e.fence, e.event, (e.time - T0).total_seconds()) for e in events]


def test_jitter_across_the_edge_does_not_flap() -> None:
    rng = random.Random(7)
    engine = GeofenceEngine(FenceSet([circle()], hysteresis_m=40), EngineParameters(min_duration=timedelta(seconds=30)))
    # drives in, then idles 30 min right at the edge with +-15 m GPS noise, then leaves
    track = [(s, LON0, north(400 - s)) for s in range(0, 300, 10)]
    track += [(300 + s, LON0, north(100 + rng.gauss(0, 15))) for s in range(0, 1800, 10)]
    track += [(2100 + s, LON0, north(100 + 5 * s)) for s in range(0, 200, 10)]
    events = run(engine, track)
    kinds = [e[1] for e in events if e[1] != "dwell"]
    assert kinds == ["enter", "exit"], events
    assert 300 <= events[0][2] <= 400  # entered when it first stayed inside
    assert events[-1][2] >= 2100


def test_without_hysteresis_and_debounce_the_same_track_flaps() -> None:
    """The control: the same jitter with a zero band and no debounce produces many events."""
    rng = random.Random(7)
    engine = GeofenceEngine(FenceSet([circle()], hysteresis_m=0), EngineParameters(min_duration=timedelta(0)))
    track = [(s, LON0, north(100 + rng.gauss(0, 15))) for s in range(0, 1800, 10)]
    assert len([e for e in run(engine, track) if e[1] == "enter"]) > 10


def test_debounce_ignores_a_pass_through_shorter_than_min_duration_and_dwell_fires_once() -> None:
    engine = GeofenceEngine(FenceSet([circle(radius=50)], hysteresis_m=10),
                            EngineParameters(min_duration=timedelta(seconds=60), dwell_after=timedelta(minutes=5)))
    # crosses the 100 m-wide fence at 20 m/s (5 s inside), then comes back and parks 10 min
    track = [(s, LON0, north(-300 + 20 * s)) for s in range(0, 30, 1)]
    track += [(100 + s, LON0, north(0)) for s in range(0, 600, 10)]
    track += [(700 + s, LON0, north(20 * s)) for s in range(0, 40, 1)]
    assert run(engine, track) == [("depot", "enter", 100), ("depot", "dwell", 400), ("depot", "exit", 703)]


def test_silence_confirms_a_pending_arrival() -> None:
    """A tracker switched off right after arriving: its one inside fix still makes an arrival."""
    engine = GeofenceEngine(FenceSet([circle()]), EngineParameters(min_duration=timedelta(seconds=60),
                                                                   confirm_after_silence=timedelta(minutes=5)))
    track = [(s, LON0, north(1000 - 20 * s)) for s in range(0, 50, 10)] + [(50, LON0, north(20))]
    track += [(3600, LON0, north(5000))]  # next fix an hour later, far away
    assert run(engine, track) == [("depot", "enter", 50), ("depot", "exit", 3600)]


def test_polygon_and_corridor_fences_vectorised_classification() -> None:
    square = Polygon([(LON0, LAT0), (LON0 + 0.01, LAT0), (LON0 + 0.01, LAT0 + 0.01), (LON0, LAT0 + 0.01)])
    road = LineString([(LON0 - 0.05, LAT0 - 0.02), (LON0 + 0.05, LAT0 - 0.02)])
    fences = FenceSet([Fence("yard", "polygon", square), Fence("road", "corridor", road, buffer_m=100, line_ll=road)],
                      hysteresis_m=30)
    lon = np.array([LON0 + 0.005, LON0 + 0.005, LON0 + 0.02, LON0])
    lat = np.array([LAT0 + 0.005, LAT0 - 0.02 + 80 / M_PER_DEG_LAT, LAT0 - 0.02 + 120 / M_PER_DEG_LAT, LAT0 + 0.05])
    pi, fi, level = fences.classify(lon, lat)
    got = {(int(p), fences.fences[f].id, int(lv)) for p, f, lv in zip(pi, fi, level, strict=True)}
    assert got == {(0, "yard", 2), (1, "road", 2), (2, "road", 1)}  # 120 m off the road: in its band only


def test_geojson_features_are_checked_with_reasons() -> None:
    with pytest.raises(GeofenceError, match="radius_m must be a positive number"):
        fence_from_feature({"type": "Feature", "id": "x", "geometry": {"type": "Point", "coordinates": [0, 0]},
                            "properties": {}})
    with pytest.raises(GeofenceError, match=r"\[lon, lat\] degrees"):
        fence_from_feature({"type": "Feature", "geometry": {"type": "Polygon",
                                                            "coordinates": [[[0, 0], [0, 100], [1, 1], [0, 0]]]}})
    with pytest.raises(GeofenceError, match="duplicate fence ids: a"):
        FenceSet([circle("a"), circle("a")])


def test_cleaner_marks_jumps_as_outliers_and_late_pings_as_late() -> None:
    cleaner = PingCleaner(CleaningParameters(max_speed_kmh=150, allowed_lateness=timedelta(seconds=30)))
    state = TruckPings()
    verdicts = []
    fixes = [(0, 0.0), (10, 100.0), (20, 200.0), (25, 20_000.0), (30, 300.0), (40, 400.0), (15, 150.0), (80, 800.0)]
    for s, metres in fixes:
        verdicts += [(int((p.at - T0).total_seconds()), p.verdict)
                     for p in cleaner.push("T1", state, T0 + timedelta(seconds=s), LON0, north(metres))]
    verdicts += [(int((p.at - T0).total_seconds()), p.verdict) for p in cleaner.flush("T1", state)]
    # 15 arrived after 40 but within the lateness window: used in order; the 20 km jump is an outlier
    assert verdicts == [(0, "ok"), (10, "ok"), (15, "ok"), (20, "ok"), (25, "outlier"), (30, "ok"), (40, "ok"),
                        (80, "ok")]
    late = cleaner.push("T1", state, T0 + timedelta(seconds=50), LON0, north(500))
    assert [p.verdict for p in late] == ["late"]


def test_cleaner_accepts_a_real_relocation_after_consistent_fixes() -> None:
    cleaner = PingCleaner(CleaningParameters(max_speed_kmh=150, allowed_lateness=timedelta(0), confirm_jump=3))
    state = TruckPings()
    out = [p.verdict for s, m in [(0, 0), (10, 50_000), (20, 50_100), (30, 50_200), (40, 50_300)]
           for p in cleaner.push("T1", state, T0 + timedelta(seconds=s), LON0, north(m))]
    assert out == ["ok", "outlier", "outlier", "ok", "ok"]


@pytest.mark.parametrize(("lat", "lon", "reason"), [(91, 0, "latitude 91"), (0, -181, "longitude -181"),
                                                     (math.nan, 0, "finite"), (0, math.inf, "finite")])
def test_position_checks(lat: float, lon: float, reason: str) -> None:
    assert reason in (check_position(lat, lon) or "")


def test_fleet_clock_waits_for_the_slowest_partition_and_counts_idleness_in_input() -> None:
    clock = FleetClock(timedelta(minutes=10), timedelta(seconds=0), idle_beats=50, scan_every=timedelta(0))
    state, out = None, []

    def beat(truck: str, minute: float, partition: int) -> None:
        nonlocal state
        state, new = clock(state, Beat(truck, T0 + timedelta(minutes=minute), True, "S", partition))
        out.extend(new)

    beat("A", 0, 0)
    for i in range(40):  # partition 1 is read far ahead while partition 0 catches up: A is not offline
        beat("B", i, 1)
    assert out == []
    for i in range(40, 100):  # partition 0 stays silent while > 50 beats come from elsewhere: it is idle
        beat("B", i, 1)
    assert [(c.condition.subject_id, c.condition.value, c.condition.at) for c in out] == [
        ("A", 1.0, T0 + timedelta(minutes=10))]
    beat("A", 5, 0)  # a buffered fix arrives with an old time: cleared, stamped when learnt
    assert (out[-1].condition.value, out[-1].condition.at) == (0.0, T0 + timedelta(minutes=10))


def test_one_point_memberships_agree_with_the_vectorised_classification() -> None:
    # the flow's per-ping query (a grid of 1 km cells) against classify (STRtree), fence and hysteresis band
    rng = random.Random(7)
    fences = [Fence("circle", "circle", Point(-2.99, 53.41), radius_m=400),
              Fence("poly", "polygon", Polygon([(-2.98, 53.40), (-2.95, 53.40), (-2.95, 53.42), (-2.98, 53.42)])),
              Fence("corridor", "corridor", LineString([(-3.0, 53.39), (-2.9, 53.43), (-2.8, 53.40)]), buffer_m=150,
                    line_ll=LineString([(-3.0, 53.39), (-2.9, 53.43), (-2.8, 53.40)]))]
    fs = FenceSet(fences, hysteresis_m=60)
    lon = np.array([rng.uniform(-3.01, -2.79) for _ in range(3000)])
    lat = np.array([rng.uniform(53.38, 53.44) for _ in range(3000)])
    pi, fi, level = fs.classify(lon, lat)
    expected: dict[int, dict[str, int]] = {}
    for p, f, lv in zip(pi.tolist(), fi.tolist(), level.tolist(), strict=True):
        expected.setdefault(p, {})[fences[f].id] = lv
    assert len(expected) > 300  # many points in some fence or band, of every kind
    assert {f for levels in expected.values() for f in levels} == {"circle", "poly", "corridor"}
    for p in range(len(lon)):
        assert fs.memberships(float(lon[p]), float(lat[p])) == expected.get(p, {}), p


def test_fleet_clock_waits_for_partitions_with_pings_at_start_until_heard_from() -> None:
    # a restart with a backlog: partition 0 (truck A) is not read yet while partition 1 races ahead
    clock = FleetClock(timedelta(minutes=10), timedelta(seconds=0), idle_beats=50, scan_every=timedelta(0),
                       partitions=(0, 1))
    state, out = None, []
    for i in range(200):
        state, new = clock(state, Beat("B", T0 + timedelta(minutes=i), True, "S", 1))
        out += new
    assert out == [] and state is not None and state.marks.value is None
    state, new = clock(state, Beat("A", T0 + timedelta(minutes=150), True, "S", 0))
    assert new == []  # A is heard from with a time of its own: not offline
