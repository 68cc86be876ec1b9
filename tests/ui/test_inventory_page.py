"""The Inventory page in the browser: stock against reorder point and safety stock as a bar chart (a location
below its reorder point marked, a negative one flagged), projected run-out, the movements chart and list, the
stock exceptions; the same page in Simplified Chinese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from playwright.sync_api import Page, expect

from connectors.postgres.ledger import LedgerEntry, apply_movements
from connectors.postgres.masterdata import load_scenario
from millstream.inventory.catalog import Catalog
from millstream.inventory.movements import Movement, quantity
from millstream.masterdata import read_scenario
from tests.helpers.paths import DEMO

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def mv(kind: str, material: str, qty: float, minutes: int, **ends: str) -> Movement:
    extra = {"reference": "PO-1013", "machine_id": "ASSY-01"} if kind == "backflush" else {}
    return Movement(movement_type=kind, material_id=material, quantity=quantity(qty), source_id=f"ui-{kind}-{minutes}",
                    occurred_at=T0 + timedelta(minutes=minutes), **ends, **extra)


def test_inventory_page_shows_stock_against_policy_movements_and_exceptions(ui_page: Page,
                                                                           ui_db: psycopg.Connection) -> None:
    scenario = read_scenario(DEMO)
    load_scenario(ui_db, scenario)
    policies = Catalog(scenario).policies
    entries = [
        LedgerEntry(mv("opening", "CP-SEAL-40", 300, 0, to_location_id="LIV-LINE-B", lot="OPENING")),
        LedgerEntry(mv("backflush", "CP-SEAL-40", 230, 30, from_location_id="LIV-LINE-B"), (("LIV-LINE-B", 100.0),)),
        LedgerEntry(mv("opening", "CP-BOLT-M8", 2000, 0, to_location_id="LIV-LINE-B", lot="OPENING")),
        LedgerEntry(mv("backflush", "CP-BOLT-M8", 600, 40, from_location_id="LIV-LINE-B"), (("LIV-LINE-B", 800.0),)),
        LedgerEntry(mv("goods_issue", "FG-GEARBOX-G20", 5, 50, from_location_id="LIV-FG", reference="SHP-5002")),
    ]
    apply_movements(ui_db, entries, policies)

    page = ui_page
    page.goto(page.url.split("#")[0] + "#/inventory")
    expect(page.locator("h1")).to_have_text("Inventory")
    seals = page.locator('.stock-row[data-key="CP-SEAL-40@LIV-LINE-B"]')
    expect(seals).to_have_attribute("data-state", "low")  # 70 < reorder point 100
    expect(seals.locator(".quantity")).to_have_text("70")
    expect(seals.locator(".marker.rop")).to_have_count(1)
    expect(seals.locator(".run-out")).to_contain_text("runs out")
    bolts = page.locator('.stock-row[data-key="CP-BOLT-M8@LIV-LINE-B"]')
    expect(bolts).to_have_attribute("data-state", "ok")  # 1400 >= 800
    expect(page.locator('.stock-row[data-key="FG-GEARBOX-G20@LIV-FG"]')).to_have_count(0)  # no stock policy
    page.locator("#stock-policies-only").uncheck()
    expect(page.locator('.stock-row[data-key="FG-GEARBOX-G20@LIV-FG"]')).to_have_attribute("data-state", "negative")
    expect(page.locator("#exception-rows tr.failed")).to_have_count(1)
    expect(page.locator("#exception-rows tr.failed td").nth(1)).to_have_text("FG-GEARBOX-G20")
    expect(page.locator("#movement-rows tr[data-kind]")).to_have_count(5)
    expect(page.locator("#movement-chart canvas")).to_have_count(1)

    page.locator("#lang").select_option("zh-CN")
    expect(page.locator("h1")).to_have_text("库存")
    expect(page.locator("#exception-rows tr.failed td").nth(3)).to_have_text("发货出库")
    page.locator("#lang").select_option("en")
    expect(page.locator('.stock-row[data-key="CP-SEAL-40@LIV-LINE-B"]')).to_have_attribute("data-state", "low")
