"""Shipments, tracks, trips and stops over the API, filled by the logistics logic from a simulated day; the
OsmAnd endpoint with device keys publishing to fleet.gps; bad OsmAnd requests answered 4xx with the reason."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from connectors.kafka.admin import create_topics
from connectors.kafka.topics import FLEET_GPS
from connectors.postgres import logistics as store
from connectors.postgres.masterdata import load_scenario
from millstream.logistics.outputs import EtaRow, FenceEventRow, MilestoneRow, PositionRow, ShipmentSnapshot
from millstream.logistics.truck import Logistics, TruckState
from millstream.masterdata import read_scenario
from millstream.settings import ClockSettings, Settings
from simulators.fleet.route import Route
from simulators.fleet.simulation import FleetSimulation
from tests.helpers.api import auth, unique
from tests.helpers.kafka import consume_all, consume_messages
from tests.helpers.paths import ROOT

START = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
WRITERS = ((PositionRow, store.store_positions), (FenceEventRow, store.store_fence_events),
           (MilestoneRow, store.store_milestones), (EtaRow, store.store_etas),
           (ShipmentSnapshot, store.upsert_shipments))


@pytest.fixture(scope="module")
def tracked_day(api_settings: Settings) -> dict[str, Any]:
    """The demo day played through the logistics logic into the API's database (no broker needed here)."""
    scenario = read_scenario(ROOT / "scenarios" / "demo.yaml").rebased(START)
    sim = FleetSimulation(scenario, seed=1)
    logistics, states, outputs = Logistics(scenario), {}, []
    for emission in sim.timeline():
        if emission.event is not None:
            outputs += logistics.on_ping(states.setdefault(emission.event.truck_id, TruckState()), emission.event)
    for truck, state in states.items():
        outputs += logistics.on_end(truck, state)
    with psycopg.connect(api_settings.database.url.get_secret_value(), row_factory=psycopg.rows.dict_row) as conn:
        load_scenario(conn, scenario)
        conn.commit()
        for kind, write in WRITERS:
            write(conn, [o for o in outputs if isinstance(o, kind)])
    return {"scenario": scenario, "trips": sim.trips}


def test_shipments_list_status_position_eta_and_window(client: TestClient, tokens: dict[str, str],
                                                       tracked_day: dict[str, Any]) -> None:
    response = client.get("/api/v1/shipments", headers=auth(tokens["dispatcher"]))
    assert response.status_code == 200, response.text
    by_id = {s["shipment_id"]: s for s in response.json()}
    for trip in tracked_day["trips"]:
        sh = trip.plan.shipment
        got = by_id[sh.id]
        assert got["status"] == "delivered"
        assert datetime.fromisoformat(got["promised_to"]) == sh.promised_to
        late_min = (trip.arrival - sh.promised_to).total_seconds() / 60
        assert got["lateness_min"] == pytest.approx(late_min, abs=3.0)  # arrival seen at the fence, not route end
        end_lon, end_lat = sh.route["coordinates"][-1]
        assert abs(got["last_position"]["lat"] - end_lat) < 0.01 and abs(got["last_position"]["lon"] - end_lon) < 0.01
    delivered = client.get("/api/v1/shipments", params={"status": "in_transit"}, headers=auth(tokens["erp"]))
    assert [s for s in delivered.json() if s["shipment_id"] in by_id] == []


def test_shipment_timeline_and_etas(client: TestClient, tokens: dict[str, str], tracked_day: dict[str, Any]) -> None:
    trip = next(t for t in tracked_day["trips"] if t.plan.shipment.id == "SHP-5004")
    detail = client.get("/api/v1/shipments/SHP-5004", headers=auth(tokens["admin"])).json()
    assert [m["milestone"] for m in detail["milestones"]] == ["at_origin", "departed", "in_transit", "arrived",
                                                              "delivered"]
    departed = datetime.fromisoformat(detail["milestones"][1]["at"])
    assert timedelta(0) <= departed - trip.plan.departure <= timedelta(minutes=3)
    assert detail["etas"] and all(e["eta_low"] <= e["eta"] <= e["eta_high"] for e in detail["etas"])
    missing = client.get("/api/v1/shipments/NO-SUCH", headers=auth(tokens["admin"]))
    assert missing.status_code == 404 and "NO-SUCH" in missing.json()["detail"]


def test_track_trips_and_stops_with_csv(client: TestClient, tokens: dict[str, str],
                                        tracked_day: dict[str, Any]) -> None:
    headers = auth(tokens["dispatcher"])
    track = client.get("/api/v1/trucks/TRK-04/track", headers=headers).json()
    times = [p["at"] for p in track]
    assert times == sorted(times) and len(track) > 500
    assert {p["quality"] for p in track} == {"ok"}

    trip = next(t for t in tracked_day["trips"] if t.plan.shipment.id == "SHP-5004")
    trips = client.get("/api/v1/trucks/TRK-04/trips", headers=headers).json()
    row = next(t for t in trips if t["shipment_id"] == "SHP-5004")
    route_km = Route(trip.plan.shipment.route["coordinates"]).length_m / 1000
    assert row["distance_km"] == pytest.approx(route_km, rel=0.15)
    as_csv = client.get("/api/v1/trucks/TRK-04/trips", params={"format": "csv"}, headers=headers)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert rows[0]["shipment_id"] == "SHP-5004" and float(rows[0]["distance_km"]) == row["distance_km"]

    stops = client.get("/api/v1/trucks/TRK-04/stops", params={"min_minutes": 15}, headers=headers).json()
    loading = trip.plan.departure - trip.plan.loading_from
    assert any(abs(datetime.fromisoformat(s["started_at"]) - trip.plan.loading_from) < timedelta(minutes=1)
               and s["duration_min"] >= loading.total_seconds() / 60 - 1 for s in stops), stops
    breakdowns = [f for f in trip.facts if f.details.get("incident") == "breakdown"]
    for fact in breakdowns:  # a breakdown is a stop of its length where it happened
        assert any(abs(datetime.fromisoformat(s["started_at"]) - fact.time) < timedelta(minutes=1) for s in stops)
    stops_csv = client.get("/api/v1/trucks/TRK-04/stops", params={"format": "csv", "min_minutes": 15},
                           headers=headers)
    assert len(list(csv.DictReader(io.StringIO(stops_csv.text)))) == len(stops)
    assert client.get("/api/v1/trucks/NOPE/track", headers=headers).status_code == 404


@pytest.fixture
def device(client: TestClient, tokens: dict[str, str], tracked_day: dict[str, Any],
           api_settings: Settings) -> dict[str, Any]:
    create_topics(api_settings.kafka, [FLEET_GPS])
    response = client.post("/api/v1/devices", json={"device_id": unique("phone"), "truck_id": "TRK-01"},
                           headers=auth(tokens["admin"]))
    assert response.status_code == 201, response.text
    return response.json()


def test_osmand_fixes_reach_fleet_gps_as_the_trucks_pings(client: TestClient, device: dict[str, Any],
                                                          api_settings: Settings) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    query = {"id": device["device_id"], "lat": "53.4084", "lon": "-2.9916", "timestamp": str(int(now.timestamp())),
             "speed": "10", "bearing": "90", "altitude": "12", "accuracy": "5", "batt": "80"}
    first = client.post("/osmand", params={**query, "key": device["key"]})
    assert first.status_code == 200, first.text
    json_body = {"device_id": device["device_id"], "location": {
        "timestamp": (now + timedelta(seconds=5)).isoformat(), "coords": {
            "latitude": 53.409, "longitude": -2.99, "speed": 5.0, "heading": 45, "altitude": 10, "accuracy": 4},
        "battery": {"level": 0.5}}}
    second = client.post("/osmand", json=json_body, headers={"Authorization": f"Bearer {device['key']}"})
    assert second.status_code == 200, second.text
    third = client.get("/osmand", params={**query, "id": f"{device['device_id']}~{device['key']}",
                                          "timestamp": str(int(now.timestamp()) + 10)})
    assert third.status_code == 200, third.text
    ids = {r.json()["event_id"] for r in (first, second, third)}
    pings = [orjson.loads(v) for v in consume_all(api_settings, FLEET_GPS.full_name(api_settings.kafka), 50, 5)]
    mine = [p for p in pings if p["event_id"] in ids]
    assert len(mine) == 3
    assert {p["truck_id"] for p in mine} == {"TRK-01"}
    by_time = sorted(mine, key=lambda p: p["timestamp"])
    assert by_time[0]["speed_kmh"] == pytest.approx(18.52)  # 10 knots
    assert by_time[1]["speed_kmh"] == pytest.approx(18.0) and by_time[1]["battery_pct"] == 50.0  # 5 m/s


def test_bad_osmand_requests_get_4xx_with_the_reason(client: TestClient, device: dict[str, Any],
                                                     tokens: dict[str, str]) -> None:
    now = str(int(datetime.now(UTC).timestamp()))
    good = {"id": device["device_id"], "key": device["key"], "lat": "53.4", "lon": "-2.9", "timestamp": now}
    cases = [
        ({**good, "id": "no-such-device"}, 404, "unknown device id 'no-such-device'"),
        ({**good, "key": "dk_wrong"}, 401, "device key missing or wrong"),
        ({k: v for k, v in good.items() if k != "key"}, 401, "device key missing or wrong"),
        ({k: v for k, v in good.items() if k != "id"}, 400, "id (the device identifier) is required"),
        ({**good, "lat": "95"}, 400, "latitude 95.0 is outside -90..90"),
        ({**good, "lat": "nan"}, 400, "lat must be a finite number"),
        ({**good, "lon": "east"}, 400, "lon must be a number"),
        ({**good, "timestamp": "yesterday"}, 400, "neither Unix time nor ISO 8601"),
        ({**good, "timestamp": str(int(now) + 3600)}, 400, "in the future"),
    ]
    for params, code, reason in cases:
        response = client.post("/osmand", params=params)
        assert response.status_code == code, (params, response.text)
        assert reason in response.json()["detail"], (params, response.text)
    garbage = client.post("/osmand", content=b"{not json", headers={"content-type": "application/json"})
    assert garbage.status_code == 400 and "not JSON" in garbage.json()["detail"]
    revoke = client.delete(f"/api/v1/devices/{device['device_id']}", headers=auth(tokens["admin"]))
    assert revoke.status_code == 204
    revoked = client.post("/osmand", params=good)
    assert revoked.status_code == 404 and "revoked device" in revoked.json()["detail"]
    again = client.post("/api/v1/devices", json={"device_id": device["device_id"], "truck_id": "NO-TRUCK"},
                        headers=auth(tokens["admin"]))
    assert again.status_code == 422 and "unknown truck" in again.text


def test_osmand_under_a_simulated_clock_checks_and_stamps_with_that_clock(
        device: dict[str, Any], api_settings: Settings) -> None:
    """Under ``millstream up --speed`` the run's clock is "now": a fix at simulated now (two days ahead of the
    wall clock) is accepted, one without a timestamp gets it, and the Kafka record carries it."""
    sim_start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    simulated = api_settings.model_copy(update={"clock": ClockSettings(start=sim_start, wall_start=time.time())})
    with TestClient(create_app(simulated)) as sim_client:
        fix = {"id": device["device_id"], "key": device["key"], "lat": "53.41", "lon": "-2.99"}
        dated = sim_client.post("/osmand", params={**fix, "timestamp": str(int(sim_start.timestamp()) + 1)})
        assert dated.status_code == 200, dated.text
        undated = sim_client.post("/osmand", params={**fix, "lat": "53.42"})
        assert undated.status_code == 200, undated.text
        past = sim_client.post("/osmand", params={**fix, "timestamp": str(int(datetime.now(UTC).timestamp()) + 3600)})
        assert past.status_code == 200, past.text  # an hour after wall-clock now is the simulated past
    ids = {r.json()["event_id"] for r in (dated, undated, past)}
    records = consume_messages(api_settings, FLEET_GPS.full_name(api_settings.kafka), 50, 5)
    mine = [(orjson.loads(m.value()), m.timestamp()[1]) for m in records if orjson.loads(m.value())["event_id"] in ids]
    assert len(mine) == 3
    for _ping, stamp_ms in mine:
        stamped = datetime.fromtimestamp(stamp_ms / 1000, UTC)
        assert sim_start <= stamped < sim_start + timedelta(minutes=5), (stamped, sim_start)  # the run's clock
    undated_ping = next(p for p, _ in mine if p["event_id"] == undated.json()["event_id"])
    assert abs(datetime.fromisoformat(undated_ping["timestamp"]) - sim_start) < timedelta(minutes=5)
