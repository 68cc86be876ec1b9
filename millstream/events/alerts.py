"""Alerts: one lifecycle shared by every pipeline (machine, stock and fleet alerts).

An alert is about a subject (a machine, a material at a location, a shipment, a truck) and has a type
(``machine.failure_risk``, ``stock.below_reorder_point``, ``shipment.delay`` ...). Its id is stable per
subject + type + episode, where the episode is the event time the condition was first raised
(``opened_at``): a replay of the same inputs yields the same alert ids, and re-triggers of an open alert
update that alert instead of creating a new one.

Lifecycle: ``open`` -> ``acknowledged`` (by a person) -> ``cleared`` (by the condition going away, or by a
person). ``open`` -> ``cleared`` is allowed too. :meth:`Alert.acknowledged` and :meth:`Alert.cleared` are
the only transitions; any other raises :class:`AlertTransitionError`.

``domain`` says who sees an alert: ``maintenance`` and ``inventory`` alerts go to plant engineers,
``logistics`` alerts to dispatchers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from millstream.errors import MillstreamError
from millstream.events.base import WITHOUT_TIME_CHECK, UtcDatetime, utc_now
from millstream.events.outputs import OutputEvent

__all__ = [
    "ALERT_DOMAINS",
    "ALERT_SEVERITIES",
    "ALERT_STATES",
    "SYSTEM_ACTOR",
    "Alert",
    "AlertDomain",
    "AlertSeverity",
    "AlertState",
    "AlertTransitionError",
]

AlertSeverity = Literal["critical", "major", "minor", "warning"]
AlertState = Literal["open", "acknowledged", "cleared"]
AlertDomain = Literal["maintenance", "inventory", "logistics"]

#: Most severe first (index = rank; lower is more severe).
ALERT_SEVERITIES: tuple[AlertSeverity, ...] = ("critical", "major", "minor", "warning")
ALERT_STATES: tuple[AlertState, ...] = ("open", "acknowledged", "cleared")
ALERT_DOMAINS: tuple[AlertDomain, ...] = ("maintenance", "inventory", "logistics")

#: Who clears an alert when its condition goes away.
SYSTEM_ACTOR = "system"

AlertType = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")]
Actor = Annotated[str, Field(min_length=1, max_length=200)]


class AlertTransitionError(MillstreamError):
    """A lifecycle change that the alert's current state does not allow (e.g. acknowledging a cleared alert)."""

    def __init__(self, alert_id: str, state: str, action: str) -> None:
        super().__init__(f"alert {alert_id} is {state}; cannot {action} it")
        self.alert_id = alert_id
        self.state = state
        self.action = action


class Alert(OutputEvent):
    """One alert episode. ``occurred_at`` is the event time of its latest change (raise, re-trigger, clear)."""

    kind: ClassVar[str] = "alert"

    alert_type: AlertType
    domain: AlertDomain
    severity: AlertSeverity
    state: AlertState = "open"
    title: str = Field("", max_length=500)
    opened_at: UtcDatetime
    acknowledged_at: UtcDatetime | None = None
    acknowledged_by: Actor | None = None
    cleared_at: UtcDatetime | None = None
    cleared_by: Actor | None = None
    trigger_count: int = Field(1, ge=1, description="How often the condition was raised in this episode.")
    details: dict[str, Any] = Field(default_factory=dict, description="Rule, thresholds, peak value ...")
    evidence: dict[str, Any] = Field(default_factory=dict, description="The values that raised the alert.")

    def identity(self) -> tuple[object, ...]:
        return (self.subject_kind, self.subject_id, self.alert_type, self.opened_at)

    @property
    def subject(self) -> str:
        """``<subject_kind>:<subject_id>`` — the ``alerts`` topic's message key."""
        return f"{self.subject_kind}:{self.subject_id}"

    @property
    def active(self) -> bool:
        """Open or acknowledged (not cleared)."""
        return self.state != "cleared"

    @model_validator(mode="after")
    def _lifecycle_fields(self) -> Alert:
        if (self.acknowledged_at is None) != (self.acknowledged_by is None):
            msg = "acknowledged_at and acknowledged_by go together"
            raise ValueError(msg)
        if self.state == "acknowledged" and self.acknowledged_at is None:
            msg = "an acknowledged alert needs acknowledged_at and acknowledged_by"
            raise ValueError(msg)
        if (self.state == "cleared") != (self.cleared_at is not None):
            msg = "cleared_at is set exactly when state is cleared"
            raise ValueError(msg)
        if self.state == "cleared" and self.cleared_by is None:
            msg = "a cleared alert needs cleared_by"
            raise ValueError(msg)
        if self.occurred_at < self.opened_at:
            msg = "occurred_at must not be before opened_at"
            raise ValueError(msg)
        return self

    def acknowledged(self, by: str, at: datetime | None = None) -> Alert:
        """This alert acknowledged by ``by`` (only an open alert can be acknowledged)."""
        if self.state != "open":
            raise AlertTransitionError(self.id, self.state, "acknowledge")
        return self._with(state="acknowledged", acknowledged_by=by, acknowledged_at=at or utc_now())

    def cleared(self, by: str, at: datetime | None = None) -> Alert:
        """This alert cleared by ``by`` (an open or acknowledged alert)."""
        if self.state == "cleared":
            raise AlertTransitionError(self.id, self.state, "clear")
        return self._with(state="cleared", cleared_by=by, cleared_at=at or utc_now())

    def _with(self, **changes: Any) -> Alert:
        data = self.model_dump()
        data.update(changes)
        return Alert.model_validate(data, context=WITHOUT_TIME_CHECK)
