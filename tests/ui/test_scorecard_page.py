"""The Scorecard page in the browser: the figures of GET /api/v1/scorecard per pipeline with their samples, the
reliability chart once scores have an outcome, and the page in Simplified Chinese."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from playwright.sync_api import Page, expect

from connectors.postgres.ground_truth import store_facts
from connectors.postgres.maintenance import store_scores
from millstream.events.maintenance import MaintenanceScore
from millstream.scorecard import TruthFact

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def test_scorecard_page_shows_figures_and_the_reliability_chart(ui_page: Page, ui_db: psycopg.Connection) -> None:
    machine = f"SC-{uuid.uuid4().hex[:6]}"
    store_facts(ui_db, [TruthFact(T0, "order_started", machine),
                        TruthFact(T0 + timedelta(hours=5), "failure", machine)], "plant")
    store_scores(ui_db, [MaintenanceScore(machine_id=machine, at=T0 + timedelta(hours=4, minutes=30), model_id="t",
                                          health=20.0, rul=0.5, rul_low=0.2, rul_high=0.8, rul_unit="hours",
                                          horizon=0.75, p_fail=0.85, anomaly=0.5, confidence="high",
                                          valid_share=1.0)])
    page = ui_page
    page.goto(page.url.split("#")[0] + "#/scorecard")
    expect(page.locator("h1")).to_have_text("Scorecard")
    expect(page.locator("#scorecard-maintenance h2")).to_have_text("Maintenance")
    expect(page.locator("#scorecard-logistics tbody tr").first).to_be_visible()
    expect(page.locator("#scorecard-maintenance tbody")).to_contain_text("Brier score of failure risk")
    expect(page.locator("#reliability-chart canvas")).to_have_count(1)
    page.locator("#lang").select_option("zh-CN")
    expect(page.locator("h1")).to_have_text("评分卡")
    page.locator("#lang").select_option("en")
