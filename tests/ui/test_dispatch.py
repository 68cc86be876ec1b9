"""The Dispatch page in chromium: trucks, fences and routes on a map without tiles, the shipment table, and a
shipment's page with its milestone timeline, track and ETA chart — over the logistics logic's own output of
part of a simulated day; and in Chinese."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
from playwright.sync_api import Page, expect

from connectors.postgres.alerts import upsert_alerts
from connectors.postgres.logistics import store_outputs
from connectors.postgres.masterdata import load_scenario
from millstream.alert_lifecycle import _Lifecycle, _Track
from millstream.logistics.outputs import AlertCondition
from millstream.logistics.rules import alert_rules
from millstream.logistics.truck import Logistics, TruckState
from millstream.masterdata import read_scenario
from simulators.fleet.simulation import FleetSimulation
from tests.helpers.paths import ROOT

START = (datetime.now(UTC) - timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)


def play_until(conn: psycopg.Connection, hours: float) -> set[str]:
    """The demo scenario's first ``hours`` through the logistics logic into the database; trucks seen."""
    scenario = read_scenario(ROOT / "scenarios" / "demo.yaml").rebased(START)
    load_scenario(conn, scenario)
    logistics, states, outputs = Logistics(scenario), {}, []
    lifecycles = {kind: _Lifecycle(rule) for kind, rule in alert_rules(logistics.params).items()}
    tracks: dict[tuple[str, str], _Track | None] = {}
    alerts = {}
    until = min(trip.plan.loading_from for trip in FleetSimulation(scenario, seed=1).trips) + timedelta(hours=hours)
    for emission in FleetSimulation(scenario, seed=1).timeline():
        if emission.at > until:
            break
        if emission.event is not None:
            outputs += logistics.on_ping(states.setdefault(emission.event.truck_id, TruckState()), emission.event)
    for out in outputs:
        if isinstance(out, AlertCondition):
            key = (out.alert_type, out.condition.subject)
            tracks[key], changes = lifecycles[out.alert_type](tracks.get(key), out.condition)
            alerts.update({a.id: a for a in changes})
    store_outputs(conn, outputs)
    upsert_alerts(conn, list(alerts.values()))
    return set(states)


def test_dispatch_map_table_and_shipment_page(ui_page: Page, ui_url: str, ui_db: psycopg.Connection) -> None:
    # until 2 h 15 min after the first loading (3 h 49 min after START): SHP-5004, promised by START + 3 h 30 min,
    # has stood broken down since START + 3 h 04 min, so from about + 3 h 37 min its ETA is more than the 15 min
    # tolerance past the window (truth, seed 1: it arrives at + 3 h 54 min, 24.6 min late; still on the road here).
    # At 2 h it was only ~14 min late by an ETA that no longer counts the stop as the trip's pace.
    trucks = play_until(ui_db, 2.25)
    outside = []
    ui_page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(ui_url) else None)
    ui_page.goto(f"{ui_url}/#/dispatch")
    expect(ui_page.locator("h1")).to_have_text("Dispatch")
    the_map = ui_page.locator("#dispatch-map")
    expect(the_map).to_have_attribute("data-tiles", "off")
    expect(the_map).to_have_attribute("data-trucks", str(len(trucks)))
    expect(ui_page.locator("#dispatch-map .leaflet-interactive")).to_have_count(3 + 5 + len(trucks))  # fences, routes
    rows = ui_page.locator("#shipments tbody tr")
    expect(rows).to_have_count(5)
    expect(ui_page.locator('tr[data-shipment="SHP-5004"] .status')).not_to_have_text("planned")

    ui_page.locator('tr[data-shipment="SHP-5004"] a').click()
    expect(ui_page).to_have_url(f"{ui_url}/#/dispatch/SHP-5004")
    expect(ui_page.locator("h1")).to_have_text("Shipment SHP-5004")
    expect(ui_page.locator('#timeline li[data-milestone="departed"]')).to_have_attribute("data-reached", "yes")
    expect(ui_page.locator('#timeline li[data-milestone="delivered"]')).to_have_attribute("data-reached", "no")
    track = ui_page.locator("#shipment-map")
    expect(track).to_have_attribute("data-track-points", re.compile(r"^[1-9][0-9]{2,}$"))  # > 100 fixes drawn
    expect(ui_page.locator("#eta-chart canvas")).to_have_count(1)
    # by then SHP-5004 is predicted well past its window: its delay alert is listed on the page
    expect(ui_page.locator('#shipment-alerts li[data-type="shipment.delay"]').first).to_be_visible()
    assert outside == []  # no tiles, nothing fetched from anywhere else

    ui_page.locator("#lang").select_option("zh-CN")
    ui_page.goto(f"{ui_url}/#/dispatch")
    expect(ui_page.locator("h1")).to_have_text("调度")
    expect(ui_page.locator('tr[data-shipment="SHP-5004"] .status')).to_have_text("运输中")
