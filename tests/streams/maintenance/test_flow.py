"""The maintenance flow on the real broker and database.

Two machines of the demo plant replay run-to-failure histories (the plant simulator's physics) as OPC-UA
readings; the flow must score them, raise one alert per failing machine before its failure, post one ERP
maintenance notification per alert opening/escalation through the outbox, dead-letter malformed messages, and
add nothing on a replay.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import psycopg
from bytewax.testing import run_main

from connectors.kafka.admin import create_topics
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import ALERTS, DLQ, TELEMETRY_READINGS
from connectors.postgres.masterdata import load_scenario
from connectors.postgres.masterdata_reader import read_scenario
from millstream.masterdata import read_scenario as read_scenario_file
from millstream.settings import Settings
from models.artifact import Registry
from models.scoring import ModelHolder
from streams.maintenance import build_flow
from tests.helpers.maintenance import history, readings_of, start_for
from tests.helpers.paths import DEMO


def machine_settings(settings: Settings, registry: Registry) -> Settings:
    return settings.model_copy(update={"maintenance": settings.maintenance.model_copy(
        update={"model_registry": registry.root})})


def outcome(db: psycopg.Connection, machines: list[str]) -> dict[str, object]:
    q = lambda sql: db.execute(sql, (machines,)).fetchall()  # noqa: E731
    result = {
        "scores": q("SELECT machine_id, count(*) AS n FROM maintenance_scores WHERE machine_id = ANY(%s) "
                    "GROUP BY machine_id ORDER BY machine_id"),
        "alerts": q("SELECT id, subject_id, opened_at, severity, state FROM alerts WHERE subject_id = ANY(%s) "
                    "AND alert_type = 'maintenance.failure_risk' ORDER BY subject_id, opened_at"),
        "erp": q("SELECT event_id, subject_id, record_key, erp_keys, record FROM erp_outbox "
                 "WHERE subject_id = ANY(%s) AND record_type = 'production.maintenance_notification' ORDER BY seq"),
    }
    db.rollback()
    return result


def test_scores_alerts_and_erp_notifications_once(settings: Settings, db: psycopg.Connection,
                                                  registry: Registry) -> None:
    create_topics(settings.kafka, [TELEMETRY_READINGS, DLQ, ALERTS])
    load_scenario(db, read_scenario_file(DEMO))
    db.commit()
    scenario = read_scenario(db)  # the master-data read path the flow uses by default
    db.rollback()
    machines = {"CNC-01": history(seed=101), "CNC-02": history(seed=102)}
    failure_at = {m: start_for(rows) + timedelta(seconds=rows[-1].time_s) for m, rows in machines.items()}
    with EventProducer(settings.kafka) as producer:
        for machine, rows in machines.items():
            for reading in readings_of(machine, rows):
                producer.send(TELEMETRY_READINGS, reading)
        producer.send_raw(TELEMETRY_READINGS, b"{not json", key=b"CNC-01")
        producer.send_raw(TELEMETRY_READINGS, orjson.dumps({"machine_id": "CNC-01", "tag": "vibration_rms"}),
                          key=b"CNC-01")
    s = machine_settings(settings, registry)

    run_main(build_flow(s, follow=False, scenario=scenario))
    first = outcome(db, list(machines))
    assert {r["machine_id"] for r in first["scores"]} == set(machines)  # type: ignore[union-attr]
    alerts = first["alerts"]
    assert sorted({a["subject_id"] for a in alerts}) == sorted(machines)  # type: ignore[union-attr]
    for alert in alerts:  # type: ignore[union-attr]
        assert alert["opened_at"] < failure_at[alert["subject_id"]], "alerted before the failure"
    erp = first["erp"]
    assert erp, "an opening alert posts an ERP maintenance notification"
    for record in erp:  # type: ignore[union-attr]
        assert record["erp_keys"]["machine"] == record["subject_id"]
        assert record["erp_keys"]["site"] == next(m.site_id for m in scenario.machines if m.id == record["subject_id"])
        payload = record["record"]["payload"]
        assert payload["rul"] is not None and payload["rul_low"] <= payload["rul"] <= payload["rul_high"]
        assert payload["evidence"], "the contributing features are the evidence"
    alert_ids = {a["id"] for a in alerts}  # type: ignore[union-attr]
    assert {r["record"]["payload"]["alert_id"] for r in erp} <= alert_ids  # type: ignore[union-attr]
    letters = db.execute("SELECT reason FROM dead_letters WHERE source_topic = %s",
                         (TELEMETRY_READINGS.full_name(settings.kafka),)).fetchall()
    db.rollback()
    assert len(letters) == 2 and any("value" in r["reason"] or "field" in r["reason"].lower() for r in letters)

    run_main(build_flow(s, follow=False, scenario=scenario))  # a replay from the start adds nothing
    assert outcome(db, list(machines)) == first


def test_a_mismatched_model_is_refused_and_the_last_good_one_kept(registry: Registry, plant_model: Path,
                                                                  tmp_path: Path) -> None:
    holder = ModelHolder(registry, "plant", check_every_s=0)
    good = holder.current()
    assert good is not None
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in plant_model.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    meta = orjson.loads((bad / "metadata.json").read_bytes())
    meta |= {"model_id": "plant-bad", "features_version": -1}
    (bad / "metadata.json").write_bytes(orjson.dumps(meta))
    registry.add(bad)
    (registry.root / "promoted.json").write_text('{"plant": "plant-bad"}')  # promoted behind the CLI's back
    still = holder.current()
    assert still is not None and still[1]["model_id"] == good[1]["model_id"]
    assert holder.error is not None and "does not match this code" in holder.error
    assert "still scoring with" in holder.error


def test_a_newly_promoted_model_is_picked_up_without_a_restart(registry: Registry, plant_model: Path,
                                                               tmp_path: Path) -> None:
    holder = ModelHolder(registry, "plant", check_every_s=0)
    first = holder.current()
    assert first is not None
    newer = tmp_path / "newer"
    newer.mkdir()
    for f in plant_model.iterdir():
        (newer / f.name).write_bytes(f.read_bytes())
    meta = orjson.loads((newer / "metadata.json").read_bytes())
    (newer / "metadata.json").write_bytes(orjson.dumps(meta | {"model_id": "plant-newer"}))
    registry.promote(newer)
    second = holder.current()
    assert second is not None and second[1]["model_id"] == "plant-newer" != first[1]["model_id"]
    assert holder.error is None
