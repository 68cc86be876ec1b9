"""The Plant page in chromium: machine cards with health, RUL band, state, readings with sparklines; a machine's
page with its score and signal history charts — over scores a real (quick) plant model gave a replayed machine
history, through the maintenance scoring code; and in Chinese."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from playwright.sync_api import Page, expect

from connectors.postgres.maintenance import store_scores
from connectors.postgres.masterdata import load_scenario
from connectors.postgres.timeseries import store_readings
from millstream.events import SensorReading
from millstream.maintenance.windows import MachineWindows
from millstream.masterdata import read_scenario
from models.datasets import PLANT, load_plant
from models.scoring import features_for
from models.training import TrainOptions, train
from simulators.plant.offline import run_to_failure, write_histories
from tests.helpers.paths import ROOT


def scored_history(tmp_path, db: psycopg.Connection) -> int:  # type: ignore[no-untyped-def]
    """CNC-01 replays a run to failure; its windows are scored by a quick model; scores and readings stored."""
    data = tmp_path / "train.csv"
    write_histories(iter(list(run_to_failure(8, seed=5, kind="lathe"))), data)
    model = train(load_plant(data), TrainOptions(search=1, folds=2, max_iter=40, importance_rows=200)).model
    rows = list(run_to_failure(1, seed=77, kind="lathe"))
    start = datetime.now(UTC).replace(second=30, microsecond=0) - timedelta(seconds=rows[-1].time_s + 120)
    windows = MachineWindows("CNC-01", "lathe", PLANT.signals, 60.0, PLANT.window, 60.0, 300.0)
    readings, requests = [], []
    for row in rows:
        for tag in PLANT.signals:
            reading = SensorReading(machine_id="CNC-01", tag=tag, value=getattr(row, tag),
                                    source_timestamp=start + timedelta(seconds=row.time_s))
            readings.append(reading)
            requests += windows.on_reading(reading)
    requests += windows.flush()
    readings.append(SensorReading(machine_id="CNC-01", tag="state", value="running", source_timestamp=start))
    from millstream.events.maintenance import MaintenanceScore

    scores = model.score(features_for(model, requests, PLANT.signals)[0])
    store_scores(db, [MaintenanceScore(
        machine_id=r.machine_id, at=r.at, model_id="plant-ui-test", health=float(scores.health[i]),
        rul=float(scores.rul[i]), rul_low=float(scores.rul_low[i]), rul_high=float(scores.rul_high[i]),
        rul_unit="hours", horizon=0.75, p_fail=float(scores.p_fail[i]), anomaly=float(scores.anomaly[i]),
        confidence="high", valid_share=r.valid_share, top_features=tuple(scores.top[i]))
        for i, r in enumerate(requests)])
    store_readings(db, readings)
    return len(requests)


def test_plant_cards_and_machine_page(ui_page: Page, ui_url: str, ui_db: psycopg.Connection, tmp_path) -> None:  # type: ignore[no-untyped-def]
    load_scenario(ui_db, read_scenario(ROOT / "scenarios" / "demo.yaml"))
    n_scores = scored_history(tmp_path, ui_db)
    ui_page.goto(f"{ui_url}/#/plant")
    expect(ui_page.locator("h1")).to_have_text("Plant")
    expect(ui_page.locator("article.machine")).to_have_count(6)
    cnc = ui_page.locator('article[data-machine="CNC-01"]')
    expect(cnc).to_have_attribute("data-band", "imminent")  # the history ends at its failure
    expect(cnc).to_have_attribute("data-state", "running")
    expect(cnc.locator(".spark canvas")).to_have_count(4)  # a sparkline per signal
    expect(ui_page.locator('article[data-machine="MILL-01"]')).to_have_attribute("data-band", "unknown")

    cnc.locator("h2 a").click()
    expect(ui_page).to_have_url(f"{ui_url}/#/plant/CNC-01")
    expect(ui_page.locator("h1")).to_have_text("Machine CNC-01")
    expect(ui_page.locator("#score-chart")).to_have_attribute("data-points", str(n_scores))
    expect(ui_page.locator("#score-chart canvas")).to_have_count(1)
    expect(ui_page.locator("#signal-vibration_rms canvas")).to_have_count(1)
    expect(ui_page.locator("#top-features li").first).to_be_visible()

    ui_page.locator("#lang").select_option("zh-CN")
    ui_page.goto(f"{ui_url}/#/plant")
    expect(ui_page.locator("h1")).to_have_text("工厂")
    expect(cnc.locator(".band")).to_have_text("即将故障")
