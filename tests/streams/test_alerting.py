"""The alert operator: hysteresis, minimum duration, dedup, escalation, flap suppression — in event time,
under run_main and a 2-worker cluster, plus the sink into PostgreSQL and the ``alerts`` topic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import bytewax.operators as op
import orjson
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from connectors.kafka.admin import create_topics
from connectors.kafka.topics import ALERTS
from connectors.postgres.alerts import get_alert, list_alerts
from millstream.alert_lifecycle import AlertRule, Condition, _Lifecycle
from millstream.events.alerts import Alert
from streams.alerting import raise_alerts, write_alerts
from tests.helpers.kafka import consume_messages

T0 = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)

RULE = AlertRule(alert_type="machine.failure_risk", domain="maintenance", raise_above=0.8, clear_below=0.5,
                 min_duration=timedelta(seconds=30), flap_window=timedelta(minutes=5),
                 severities=((0.8, "minor"), (0.9, "major"), (0.97, "critical")), title="Failure risk")


def series(subject: str, values: list[float], step_s: float = 10, start: datetime = T0) -> list[Condition]:
    return [Condition("machine", subject, v, start + timedelta(seconds=i * step_s), {"score": v}, (f"r{i}",))
            for i, v in enumerate(values)]


def run_flow(samples: list[Condition], rule: AlertRule = RULE, workers: int = 0) -> list[Alert]:
    out: list[Alert] = []
    flow = Dataflow("alerting_test")
    stream = raise_alerts("alerts", op.input("in", flow, TestingSource(samples)), rule)
    op.output("out", stream, TestingSink(out))
    if workers:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    else:
        run_main(flow)
    return out


def test_hysteresis_min_duration_and_clear():
    # 0.85 for 20 s (too short), dip, then above for 30 s -> raise; 0.6 is between B and A -> still open;
    # 0.4 -> cleared.
    values = [0.3, 0.85, 0.86, 0.7, 0.85, 0.88, 0.87, 0.86, 0.6, 0.55, 0.4, 0.45]
    alerts = run_flow(series("M1", values))
    assert [a.state for a in alerts] == ["open", "cleared"]
    opened, cleared = alerts
    assert opened.id == cleared.id
    assert opened.opened_at == T0 + timedelta(seconds=70)  # 0.85 at 40 s, held until 70 s
    assert opened.details["condition_since"] == (T0 + timedelta(seconds=40)).isoformat()
    assert opened.evidence["value"] == 0.86 and opened.severity == "minor"
    assert cleared.cleared_at == T0 + timedelta(seconds=100) and cleared.cleared_by == "system"
    assert cleared.details["peak"] == 0.88


def test_retrigger_updates_the_open_alert_and_escalates():
    values = [0.85, 0.85, 0.85, 0.85, 0.7, 0.92, 0.92, 0.98, 0.98, 0.6, 0.95]
    alerts = run_flow(series("M2", values))
    assert len({a.id for a in alerts}) == 1
    assert [(a.trigger_count, a.severity) for a in alerts] == [(1, "minor"), (2, "major"), (2, "critical"),
                                                                (3, "critical")]
    assert all(a.state == "open" for a in alerts)


def test_flapping_reopens_the_same_alert_and_a_later_raise_is_a_new_episode():
    up = [0.9, 0.9, 0.9, 0.9]
    values = [*up, 0.4, *up, 0.4]  # clears and comes back within 5 min: same alert, re-opened
    first = series("M3", values)
    later = series("M3", up, start=T0 + timedelta(hours=1))  # long after the clear: a new episode
    alerts = run_flow(first + later)
    assert [a.state for a in alerts] == ["open", "cleared", "open", "cleared", "open"]
    assert len({a.id for a in alerts[:4]}) == 1
    assert alerts[2].details["flaps"] == 1 and alerts[2].cleared_at is None
    assert alerts[4].id != alerts[0].id and alerts[4].details["flaps"] == 0


def late_samples() -> float:
    return REGISTRY.get_sample_value("millstream_alert_late_samples_total", {"alert_type": RULE.alert_type}) or 0.0


def test_late_samples_are_ignored_and_counted():
    samples = series("M4", [0.9, 0.9, 0.9, 0.9])
    late = Condition("machine", "M4", 0.1, T0 - timedelta(minutes=1))
    before = late_samples()
    alerts = run_flow([*samples[:2], late, late, *samples[2:]])
    assert [a.state for a in alerts] == ["open"]
    assert late_samples() - before == 2


def test_same_alerts_under_two_workers():
    samples = []
    for i in range(6):
        samples += series(f"M{i}", [0.2, 0.9, 0.95, 0.99, 0.9, 0.3, 0.9, 0.9, 0.9, 0.9][: 5 + i])
    samples.sort(key=lambda s: s.at)
    single = run_flow(samples)
    double = run_flow(samples, workers=2)
    key = lambda a: (a.subject_id, a.occurred_at, a.state)  # noqa: E731
    assert sorted(single, key=key) == sorted(double, key=key)
    assert {a.subject_id for a in single} == {f"M{i}" for i in range(6)}


def test_rule_is_checked():
    with pytest.raises(ValueError, match=r"clear_below .* must not be above raise_above"):
        AlertRule(alert_type="x.y", domain="inventory", raise_above=1, clear_below=2)


@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=60))
def test_lifecycle_invariants(values):
    """Raised only after A held for the minimum duration, cleared only below B, never two open at once."""
    lifecycle = _Lifecycle(RULE)
    track = None
    active_ids: set[str] = set()
    samples = series("MX", values)
    for i, sample in enumerate(samples):
        track, out = lifecycle(track, sample)
        for alert in out:
            if alert.state == "cleared":
                assert sample.value < RULE.clear_below
                active_ids.discard(alert.id)
            else:
                assert sample.value > RULE.raise_above
                if alert.trigger_count == 1 and alert.details["flaps"] == 0:
                    held = [s.value for s in samples if alert.opened_at - RULE.min_duration <= s.at <= sample.at]
                    assert all(v > RULE.raise_above for v in held[-4:]), (i, values)
                active_ids.add(alert.id)
        assert len(active_ids) <= 1


def test_alerts_are_stored_and_published(settings, db):
    create_topics(settings.kafka, [ALERTS])
    subject = f"M-{uuid.uuid4().hex[:6]}"
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    samples = series(subject, [0.9, 0.9, 0.9, 0.9, 0.3], start=now)
    flow = Dataflow("alerting_sink_test")
    alerts = raise_alerts("alerts", op.input("in", flow, TestingSource(samples)), RULE)
    write_alerts("write", alerts, settings)
    run_main(flow)
    # replaying the same input changes nothing (stable ids, idempotent upsert)
    run_main(flow)
    [stored] = list_alerts(db, subject_id=subject)
    assert stored.state == "cleared" and stored.severity == "minor"
    assert get_alert(db, stored.id) == stored

    messages = consume_messages(settings, ALERTS.full_name(settings.kafka), 4)
    assert {m.key() for m in messages} == {f"machine:{subject}".encode()}
    states = sorted(orjson.loads(m.value())["state"] for m in messages)
    assert states == ["cleared", "cleared", "open", "open"]
