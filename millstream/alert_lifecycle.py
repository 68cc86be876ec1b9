"""One alert lifecycle for every pipeline: condition samples become alert changes (plain Python, no engine).

A pipeline maps what it watches to :class:`Condition` samples (a subject, a value, the event time, the
evidence) and runs them through :class:`AlertLifecycle` with an :class:`AlertRule` (in a dataflow:
:func:`streams.alerting.raise_alerts`). Per subject, in event time:

- **hysteresis**: an alert is raised when the value goes above ``raise_above`` (A) and cleared when it
  falls below ``clear_below`` (B <= A); between B and A nothing changes;
- **minimum duration**: the value must stay above A for ``min_duration`` before the alert is raised
  (a dip to A or below restarts the wait);
- **dedup**: while an alert is open a new rise above A (after a dip between B and A) is a *re-trigger*: it
  updates the open alert (``trigger_count``, evidence, severity) instead of opening another; a more
  severe value escalates it;
- **flap suppression**: a raise within ``flap_window`` after a clear re-opens the cleared alert (same id,
  ``details.flaps`` counted) instead of starting a new episode, so a flapping condition is one alert.

Samples older than the subject's latest one are ignored (the input topics are keyed by subject, so order
per subject holds) and counted in ``millstream_alert_late_samples_total`` (by alert type). Only changes are
emitted: raise, re-trigger, escalation, clear.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter

from millstream.events.alerts import ALERT_SEVERITIES, SYSTEM_ACTOR, Alert, AlertDomain, AlertSeverity
from millstream.events.base import WITHOUT_TIME_CHECK
from millstream.events.outputs import SubjectKind

__all__ = ["ALERT_LATE_SAMPLES", "AlertLifecycle", "AlertRule", "Condition"]

ALERT_LATE_SAMPLES = Counter(
    "millstream_alert_late_samples_total",
    "Condition samples ignored because they are older than the subject's latest one, by alert type.",
    ["alert_type"],
)

_MAX_EVIDENCE_IDS = 20


@dataclass(frozen=True)
class Condition:
    """One observation of a watched value for a subject, at event time ``at``."""

    subject_kind: SubjectKind
    subject_id: str
    value: float
    at: datetime
    evidence: Mapping[str, Any] = field(default_factory=dict)
    evidence_ids: tuple[str, ...] = ()

    @property
    def subject(self) -> str:
        return f"{self.subject_kind}:{self.subject_id}"


@dataclass(frozen=True)
class AlertRule:
    """How a condition becomes an alert. ``severities`` maps thresholds to severities: the most severe
    entry whose threshold the value exceeds applies (default: ``major`` above A)."""

    alert_type: str
    domain: AlertDomain
    raise_above: float
    clear_below: float
    min_duration: timedelta = timedelta(0)
    flap_window: timedelta = timedelta(0)
    severities: tuple[tuple[float, AlertSeverity], ...] = ()
    title: str = ""

    def __post_init__(self) -> None:
        if self.clear_below > self.raise_above:
            msg = (f"alert rule {self.alert_type}: clear_below ({self.clear_below}) must not be above "
                   f"raise_above ({self.raise_above})")
            raise ValueError(msg)
        if self.min_duration < timedelta(0) or self.flap_window < timedelta(0):
            msg = f"alert rule {self.alert_type}: min_duration and flap_window must not be negative"
            raise ValueError(msg)

    def severity_of(self, value: float) -> AlertSeverity:
        """The most severe entry exceeded; the least severe listed when none is; ``major`` without a list."""
        if not self.severities:
            return "major"
        matched = [sev for threshold, sev in self.severities if value > threshold]
        if not matched:
            return max((sev for _, sev in self.severities), key=ALERT_SEVERITIES.index)
        return min(matched, key=ALERT_SEVERITIES.index)

    def describe(self) -> dict[str, Any]:
        return {"raise_above": self.raise_above, "clear_below": self.clear_below,
                "min_duration_s": self.min_duration.total_seconds(),
                "flap_window_s": self.flap_window.total_seconds()}


def _more_severe(a: AlertSeverity, b: AlertSeverity) -> AlertSeverity:
    return a if ALERT_SEVERITIES.index(a) <= ALERT_SEVERITIES.index(b) else b


@dataclass
class _Track:
    """What the operator remembers per subject (snapshotted with the flow's recovery state)."""

    last_at: datetime | None = None
    above_since: datetime | None = None
    above: bool = False
    alert: Alert | None = None
    peak: float | None = None


def _evidence(sample: Condition) -> dict[str, Any]:
    return {**sample.evidence, "value": sample.value, "at": sample.at.isoformat()}


class _Lifecycle:
    """The per-subject state machine, separate from Bytewax so it reads (and tests) as plain Python."""

    def __init__(self, rule: AlertRule) -> None:
        self.rule = rule

    def __call__(self, track: _Track | None, sample: Condition) -> tuple[_Track, list[Alert]]:
        track = track or _Track()
        if track.last_at is not None and sample.at < track.last_at:
            ALERT_LATE_SAMPLES.labels(self.rule.alert_type).inc()
            return track, []
        track.last_at = sample.at
        alert = track.alert
        if alert is not None and alert.active:
            return track, self._while_active(track, alert, sample)
        return track, self._while_quiet(track, alert, sample)

    def _while_active(self, track: _Track, alert: Alert, sample: Condition) -> list[Alert]:
        rule = self.rule
        track.peak = sample.value if track.peak is None else max(track.peak, sample.value)
        if sample.value < rule.clear_below:
            track.alert = self._update(alert, sample, track, state="cleared", cleared_at=sample.at,
                                       cleared_by=SYSTEM_ACTOR)
            track.above = False
            track.above_since = None
            return [track.alert]
        if sample.value <= rule.raise_above:
            track.above = False
            return []
        severity = _more_severe(alert.severity, rule.severity_of(sample.value))
        if not track.above:  # back above A after a dip: a re-trigger of the same alert
            track.above = True
            track.alert = self._update(alert, sample, track, severity=severity,
                                       trigger_count=alert.trigger_count + 1)
            return [track.alert]
        if severity != alert.severity:  # escalation while above A
            track.alert = self._update(alert, sample, track, severity=severity)
            return [track.alert]
        return []

    def _while_quiet(self, track: _Track, cleared: Alert | None, sample: Condition) -> list[Alert]:
        rule = self.rule
        if sample.value <= rule.raise_above:
            track.above_since = None
            track.above = False
            track.peak = None
            return []
        if track.above_since is None:
            track.above_since = sample.at
        track.peak = sample.value if track.peak is None else max(track.peak, sample.value)
        if sample.at - track.above_since < rule.min_duration:
            return []
        since = track.above_since
        track.above = True
        track.above_since = None
        severity = rule.severity_of(sample.value)
        if (cleared is not None and cleared.cleared_at is not None and rule.flap_window > timedelta(0)
                and since - cleared.cleared_at <= rule.flap_window):
            flaps = int(cleared.details.get("flaps", 0)) + 1
            track.alert = self._update(cleared, sample, track, state="open", cleared_at=None, cleared_by=None,
                                       acknowledged_at=None, acknowledged_by=None, severity=severity,
                                       trigger_count=cleared.trigger_count + 1, flaps=flaps)
            return [track.alert]
        track.alert = Alert(
            subject_kind=sample.subject_kind, subject_id=sample.subject_id, alert_type=rule.alert_type,
            domain=rule.domain, severity=severity, title=rule.title, opened_at=sample.at, trigger_count=1,
            occurred_at=sample.at, evidence=_evidence(sample), evidence_ids=sample.evidence_ids[-_MAX_EVIDENCE_IDS:],
            details={"rule": rule.describe(), "condition_since": since.isoformat(), "peak": track.peak,
                     "flaps": 0},
        )
        return [track.alert]

    def _update(self, alert: Alert, sample: Condition, track: _Track, *, flaps: int | None = None,
                **changes: Any) -> Alert:
        data = alert.model_dump()
        details = dict(alert.details)
        details["peak"] = track.peak
        if flaps is not None:
            details["flaps"] = flaps
        evidence_ids = (*alert.evidence_ids, *sample.evidence_ids)[-_MAX_EVIDENCE_IDS:]
        data.update(occurred_at=sample.at, evidence=_evidence(sample), evidence_ids=evidence_ids,
                    details=details, **changes)
        return Alert.model_validate(data, context=WITHOUT_TIME_CHECK)


#: The per-subject state machine as plain Python (offline evaluations replay conditions through it).
AlertLifecycle = _Lifecycle
