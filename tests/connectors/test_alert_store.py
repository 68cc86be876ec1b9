"""Alert storage against the real PostgreSQL: upsert merging, filters, lifecycle transitions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from connectors.postgres.alerts import (
    acknowledge_alert,
    clear_alert,
    get_alert,
    list_alerts,
    upsert_alert,
)
from millstream.events.alerts import Alert, AlertTransitionError

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def make_alert(subject: str, **changes: object) -> Alert:
    data: dict[str, object] = {
        "subject_kind": "machine", "subject_id": subject, "alert_type": "machine.failure_risk",
        "domain": "maintenance", "severity": "major", "opened_at": T0, "occurred_at": T0,
        "evidence": {"score": 0.91},
    }
    data.update(changes)
    return Alert.model_validate(data, context={"time_policy": None})


@pytest.fixture
def subject() -> str:
    return f"M-{uuid.uuid4().hex[:8]}"


def test_upsert_is_idempotent_and_keeps_newest(db, subject):
    first = make_alert(subject)
    upsert_alert(db, first)
    upsert_alert(db, first)
    newer = first.model_copy(update={"occurred_at": T0 + timedelta(minutes=5), "severity": "critical",
                                     "trigger_count": 2, "evidence": {"score": 0.99}})
    upsert_alert(db, newer)
    upsert_alert(db, first)  # a replay of the older update must not roll the alert back
    stored = get_alert(db, first.id)
    assert stored is not None
    assert stored.severity == "critical"
    assert stored.trigger_count == 2
    assert stored.evidence == {"score": 0.99}
    assert len(list_alerts(db, subject_kind="machine", subject_id=subject)) == 1


def test_pipeline_update_keeps_acknowledgement_and_clear_wins(db, subject):
    alert = make_alert(subject)
    upsert_alert(db, alert)
    acked = acknowledge_alert(db, alert.id, "engineer@plant")
    assert acked is not None and acked.state == "acknowledged" and acked.acknowledged_by == "engineer@plant"
    upsert_alert(db, alert.model_copy(update={"occurred_at": T0 + timedelta(minutes=1), "trigger_count": 3}))
    stored = get_alert(db, alert.id)
    assert stored is not None and stored.state == "acknowledged" and stored.trigger_count == 3
    cleared = alert.cleared("system", T0 + timedelta(minutes=2)).model_copy(
        update={"occurred_at": T0 + timedelta(minutes=2)})
    upsert_alert(db, cleared)
    stored = get_alert(db, alert.id)
    assert stored is not None and stored.state == "cleared" and stored.cleared_by == "system"
    assert stored.acknowledged_by == "engineer@plant"


def test_transitions_are_validated(db, subject):
    alert = make_alert(subject)
    upsert_alert(db, alert)
    assert clear_alert(db, alert.id, "engineer@plant").state == "cleared"
    with pytest.raises(AlertTransitionError, match="is cleared; cannot acknowledge"):
        acknowledge_alert(db, alert.id, "engineer@plant")
    with pytest.raises(AlertTransitionError, match="cannot clear"):
        clear_alert(db, alert.id, "engineer@plant")
    assert acknowledge_alert(db, "no-such-alert", "x") is None
    assert clear_alert(db, "no-such-alert", "x") is None


def test_acknowledge_twice_is_refused(db, subject):
    alert = make_alert(subject)
    upsert_alert(db, alert)
    acknowledge_alert(db, alert.id, "a")
    with pytest.raises(AlertTransitionError, match="is acknowledged; cannot acknowledge"):
        acknowledge_alert(db, alert.id, "b")
    assert get_alert(db, alert.id).acknowledged_by == "a"


def test_list_filters(db, subject):
    upsert_alert(db, make_alert(subject, severity="critical"))
    upsert_alert(db, make_alert(subject, alert_type="machine.overheat", severity="warning"))
    upsert_alert(db, make_alert(subject + "-t", subject_kind="truck", alert_type="shipment.delay",
                                domain="logistics", severity="minor"))
    mine = list_alerts(db, subject_id=subject)
    assert {a.alert_type for a in mine} == {"machine.failure_risk", "machine.overheat"}
    assert [a.severity for a in list_alerts(db, subject_id=subject, severity="critical")] == ["critical"]
    logistics = list_alerts(db, domain="logistics", subject_kind="truck", subject_id=subject + "-t")
    assert [a.alert_type for a in logistics] == ["shipment.delay"]
    assert list_alerts(db, subject_id=subject, state="cleared") == []
    assert len(list_alerts(db, subject_id=subject, limit=1)) == 1
    assert len(list_alerts(db, subject_id=subject, limit=1, offset=1)) == 1
