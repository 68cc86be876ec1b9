"""A maintenance flow that starts without state continues the alerts it left open, instead of opening others.

Under ``millstream up`` a restart starts the flow afresh (its embedded broker kept nothing, so the recovery
snapshots are dropped) while the machines wear on: an alert that was open must be the one that goes on —
updated, escalated, cleared once the machine is repaired — not a second alert beside one that stays open
forever.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from bytewax.testing import run_main

from connectors.kafka.admin import create_topics
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import ALERTS, DLQ, TELEMETRY_READINGS
from connectors.postgres.database import connect
from connectors.postgres.masterdata import load_scenario
from connectors.postgres.migrations import migrate
from millstream.alert_lifecycle import AlertLifecycle, Condition
from millstream.events import SensorReading
from millstream.maintenance.rules import alert_rule
from millstream.masterdata import read_scenario as read_scenario_file
from millstream.settings import DatabaseSettings, MaintenanceSettings, Settings
from models.artifact import Registry
from streams.maintenance import ContinuedLifecycle, build_flow
from tests.helpers.maintenance import TAGS, history, start_for
from tests.helpers.paths import DEMO

RULE = alert_rule(MaintenanceSettings())
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _c(value: float, minute: float) -> Condition:
    return Condition("machine", "CNC-01", value, T0 + timedelta(minutes=minute))


def _open_one() -> tuple[list, object]:
    lifecycle, track, changes = AlertLifecycle(RULE), None, []
    for minute in range(6):
        track, out = lifecycle(track, _c(0.7, minute))
        changes += out
    assert [a.state for a in changes] == ["open"]
    return changes, track


def test_a_fresh_lifecycle_goes_on_with_the_stored_open_alert() -> None:
    (alert,), _ = _open_one()
    continued = ContinuedLifecycle(RULE, {alert.subject: alert})
    track, changes = continued(None, _c(0.95, 20))  # the first score after the restart: riskier still
    assert [(a.id, a.severity, a.state) for a in changes] == [(alert.id, "critical", "open")]
    track, changes = continued(track, _c(0.97, 21))
    assert changes == []
    track, changes = continued(track, _c(0.01, 60))  # repaired
    assert [(a.id, a.state) for a in changes] == [(alert.id, "cleared")]


def test_a_repaired_machine_clears_the_alert_it_left_open() -> None:
    (alert,), _ = _open_one()
    continued = ContinuedLifecycle(RULE, {alert.subject: alert})
    _, changes = continued(None, _c(0.0014, 30))
    assert [(a.id, a.state) for a in changes] == [(alert.id, "cleared")]
    # without it (as before): nothing clears the stored alert, and the next rise opens a second one
    lifecycle, track, changes = AlertLifecycle(RULE), None, []
    for minute in (30, 31, 40, 41, 42, 43, 44):
        track, out = lifecycle(track, _c(0.0014 if minute < 40 else 0.9, minute))
        changes += out
    assert changes and all(a.id != alert.id for a in changes)


def test_a_replay_of_what_raised_the_alert_starts_from_no_state() -> None:
    (alert,), _ = _open_one()
    continued = ContinuedLifecycle(RULE, {alert.subject: alert})
    track, changes = None, []
    for minute in range(6):
        track, out = continued(track, _c(0.7, minute))
        changes += out
    assert [(a.id, a.state, a.trigger_count) for a in changes] == [(alert.id, "open", 1)]


def _readings(machine: str, rows: list, start: datetime) -> list[SensorReading]:
    out = [SensorReading(machine_id=machine, tag="state", value="running", source_timestamp=start)]
    for row in rows:
        at = start + timedelta(seconds=row.time_s)
        out += [SensorReading(machine_id=machine, tag=tag, value=getattr(row, tag), source_timestamp=at)
                for tag in TAGS]
    return out


def _alerts(db: psycopg.Connection, machine: str) -> list[dict]:
    rows = db.execute("SELECT id, state, severity FROM alerts WHERE subject_id = %s "
                      "AND alert_type = 'maintenance.failure_risk' ORDER BY opened_at", (machine,)).fetchall()
    db.rollback()
    return rows


def test_after_an_up_restart_the_flow_continues_the_open_alert(settings: Settings, empty_database: str,
                                                               registry: Registry) -> None:
    settings = settings.model_copy(update={
        "database": DatabaseSettings(url=empty_database),
        "maintenance": settings.maintenance.model_copy(update={"model_registry": registry.root})})
    db = connect(settings.database)
    migrate(db, settings.database)
    load_scenario(db, read_scenario_file(DEMO))
    db.commit()
    machine, rows = "CNC-01", history(seed=101)
    start = start_for(rows) - timedelta(minutes=75)  # room for the repair and the healthy hour after it
    failure = start + timedelta(seconds=rows[-1].time_s)
    cut = next(i for i, r in enumerate(rows) if r.rul_s <= 20 * 60)  # the run stops 20 min before the failure
    readings = _readings(machine, rows, start)
    stop_at = start + timedelta(seconds=rows[cut].time_s)

    first = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"topic_prefix": "a"
                                                                                    + settings.kafka.topic_prefix})})
    create_topics(first.kafka, [TELEMETRY_READINGS, DLQ, ALERTS])
    with EventProducer(first.kafka) as producer:
        for r in readings:
            if r.source_timestamp <= stop_at:
                producer.send(TELEMETRY_READINGS, r)
    run_main(build_flow(first, follow=False))
    before = _alerts(db, machine)
    assert [a["state"] for a in before] == ["open"], before

    # up again: an empty broker (other topics), the flow without state; the machine wears on, fails, is
    # repaired and runs healthy again
    second = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"topic_prefix": "b"
                                                                                     + settings.kafka.topic_prefix})})
    create_topics(second.kafka, [TELEMETRY_READINGS, DLQ, ALERTS])
    repaired = failure + timedelta(minutes=30)
    healthy = history(seed=103)[:40]
    with EventProducer(second.kafka) as producer:
        for r in readings:
            if r.source_timestamp > stop_at:
                producer.send(TELEMETRY_READINGS, r)
        for state, at in (("down", failure), ("maintenance", failure + timedelta(minutes=10))):
            producer.send(TELEMETRY_READINGS, SensorReading(machine_id=machine, tag="state", value=state,
                                                            source_timestamp=at))
        for r in _readings(machine, healthy, repaired):
            producer.send(TELEMETRY_READINGS, r)
    run_main(build_flow(second, follow=False))
    after = _alerts(db, machine)
    assert [a["id"] for a in after] == [before[0]["id"]], "one alert for the episode, not a second one beside it"
    assert after[0]["state"] == "cleared", "the repaired machine's alert is cleared"
    erp = db.execute("SELECT event_id FROM erp_outbox WHERE subject_id = %s "
                     "AND record_type = 'production.maintenance_notification'", (machine,)).fetchall()
    db.rollback()
    assert erp and len(erp) == len({r["event_id"] for r in erp}) <= 2  # at most major, then critical
    db.close()
