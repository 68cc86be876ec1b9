"""The Plant endpoints: machines with health, RUL band, state and readings; a machine's score history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from connectors.postgres.maintenance import store_scores
from connectors.postgres.masterdata import load_scenario
from connectors.postgres.timeseries import store_readings
from millstream.events import SensorReading
from millstream.events.maintenance import MaintenanceScore
from millstream.masterdata import read_scenario
from tests.helpers.api import auth
from tests.helpers.paths import DEMO

NOW = datetime.now(UTC).replace(microsecond=0)


def _score(machine: str, minutes_ago: int, rul: float, p_fail: float) -> MaintenanceScore:
    return MaintenanceScore(machine_id=machine, at=NOW - timedelta(minutes=minutes_ago), model_id="plant-test",
                            health=round(100 * rul / 3, 1), rul=rul, rul_low=max(0, rul - 0.3), rul_high=rul + 0.3,
                            rul_unit="hours", horizon=0.75, p_fail=p_fail, anomaly=0.5, confidence="high",
                            valid_share=1.0, top_features=({"feature": "spindle_temperature__last", "value": 1.0,
                                                            "z": 3.0},))


def test_machines_show_health_band_state_and_readings(client: TestClient, tokens: dict[str, str],
                                                      db: psycopg.Connection) -> None:
    load_scenario(db, read_scenario(DEMO))
    db.commit()
    store_scores(db, [_score("CNC-01", 3, 2.5, 0.05), _score("CNC-01", 1, 0.5, 0.9), _score("CNC-02", 1, 1.2, 0.2)])
    store_readings(db, [SensorReading(machine_id="CNC-01", tag="spindle_temperature", value=45.0 + i,
                                      source_timestamp=NOW - timedelta(seconds=10 * (5 - i))) for i in range(5)]
                   + [SensorReading(machine_id="CNC-01", tag="state", value="running", source_timestamp=NOW)])
    answer = client.get("/api/v1/machines", headers=auth(tokens["engineer"]))
    assert answer.status_code == 200, answer.text
    machines = {m["id"]: m for m in answer.json()}
    assert set(machines) >= {"CNC-01", "CNC-02"}
    cnc1 = machines["CNC-01"]
    assert cnc1["score"]["rul"] == 0.5 and cnc1["rul_band"] == "imminent" and cnc1["state"] == "running"
    assert [p["value"] for p in cnc1["sparklines"]["spindle_temperature"]] == [45.0, 46.0, 47.0, 48.0, 49.0]
    assert {r["tag"] for r in cnc1["latest"]} == {"spindle_temperature", "state"}
    assert machines["CNC-02"]["rul_band"] == "soon"
    assert all(m["rul_band"] == "unknown" for k, m in machines.items() if k not in {"CNC-01", "CNC-02"})

    history = client.get("/api/v1/machines/CNC-01/scores", headers=auth(tokens["admin"]))
    assert history.status_code == 200
    body = history.json()
    assert [s["rul"] for s in body["scores"]] == [2.5, 0.5]  # oldest first
    assert len(body["signals"]["spindle_temperature"]) == 5
    assert client.get("/api/v1/machines/NOPE-9/scores", headers=auth(tokens["admin"])).status_code == 404
    assert client.get("/api/v1/machines", headers=auth(tokens["dispatcher"])).status_code == 403
    assert client.get("/api/v1/machines").status_code == 401
