"""The base of every typed event: frozen, ``extra="forbid"``, timezone-aware UTC, with a stable id.

A stable id is derived from the event's identity (its content or its source position) with UUIDv5, so a
replay of the same input yields the same ids and sinks can be idempotent (upsert on the id).

Edge validation of timestamps (not in the future beyond a skew, not older than retention) uses a
:class:`TimePolicy` passed as validation context::

    SensorReading.model_validate(data, context={"time_policy": TimePolicy.from_settings(settings.events)})

Without one, :data:`DEFAULT_TIME_POLICY` applies; ``{"time_policy": None}`` turns the check off (for
historical replays and simulated pasts). The policy compares event time with ``context["now"]`` when given
(the edge passes the Kafka record timestamp, so the same record always gets the same verdict), else with the
wall clock.

Whatever the policy, a timestamp outside :data:`MIN_TIME` .. :data:`MAX_TIME` is refused (it could not be
stored, windowed or written back as a Kafka timestamp), and text that PostgreSQL cannot hold (NUL, lone
surrogates) is refused in every string field of every event (:func:`storable_text`).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, model_validator

__all__ = [
    "DEFAULT_TIME_POLICY",
    "MAX_TIME",
    "MIN_TIME",
    "WITHOUT_TIME_CHECK",
    "Event",
    "EventId",
    "TimePolicy",
    "UtcDatetime",
    "as_utc",
    "stable_id",
    "storable_text",
    "unstorable_text",
    "utc_now",
]

#: Namespace of every Millstream event id (UUIDv5).
EVENT_NAMESPACE = uuid.UUID("6f1d2c1e-5b7a-4f0e-9a43-6d3f0c2b9e11")


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` as timezone-aware UTC; a naive datetime is taken to be UTC already (as OPC UA and most wire
    formats define their timestamps). For validated fields use :data:`UtcDatetime`, which refuses naive ones."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None or value.utcoffset() is None else value.astimezone(UTC)


#: The range of event times the system represents: Kafka timestamps start at the Unix epoch, and 64-bit
#: nanosecond clocks (numpy, pandas) end in April 2262.
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2262, 1, 1, tzinfo=UTC)


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        msg = "timestamp must be timezone-aware (UTC offset missing)"
        raise ValueError(msg)
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        msg = "out of range (its UTC offset moves it outside years 1-9999)"
        raise ValueError(msg) from None
    if not MIN_TIME <= utc < MAX_TIME:
        msg = f"out of range (allowed: {MIN_TIME:%Y-%m-%d} to {MAX_TIME:%Y-%m-%d} UTC)"
        raise ValueError(msg)
    return utc


UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]
"""A datetime that must carry an offset and is normalised to UTC."""

EventId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]


def stable_id(kind: str, *parts: object) -> str:
    """A deterministic id for ``kind`` and identity ``parts`` (UUIDv5, hex)."""
    name = kind + "\x1f" + "\x1f".join(_identity_text(p) for p in parts)
    return uuid.uuid5(EVENT_NAMESPACE, name).hex


def storable_text(value: str) -> str | None:
    """Why ``value`` cannot be stored as PostgreSQL text or encoded as UTF-8 JSON, or ``None`` when it can."""
    if "\x00" in value:
        return "contains a NUL character"
    if value.isascii():  # the common case, checked in constant time: nothing to encode
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode text)"
    return None


_NO_TEXT = frozenset({int, float, bool, datetime, timedelta})


def unstorable_text(value: object, path: str = "") -> str | None:
    """Where and why the first string inside ``value`` (model fields, secrets, dict keys and values, list items)
    cannot be stored (``"name: contains a NUL character"``), or ``None``. Never repeats the text itself."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str):
        problem = storable_text(value)
        return f"{path}: {problem}" if problem else None
    if isinstance(value, BaseModel):
        for k, v in value.__dict__.items():
            if v is None or type(v) in _NO_TEXT:  # numbers and times: nothing to look into
                continue
            if type(v) is str and v.isascii() and "\x00" not in v:  # the common case, without a call
                continue
            if problem := unstorable_text(v, f"{path}.{k}" if path else k):
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (problem := storable_text(key)):
                return f"{path}: a key {problem}"
            if problem := unstorable_text(item, f"{path}[{key[:40]!r}]" if isinstance(key, str) else path):
                return problem
        return None
    if isinstance(value, list | tuple | set | frozenset):
        return next((p for i, item in enumerate(value) if (p := unstorable_text(item, f"{path}[{i}]"))), None)
    return None


def _identity_text(part: object) -> str:
    if isinstance(part, datetime):
        return part.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(part, float) and part.is_integer():
        return str(int(part))
    return str(part)


@dataclass(frozen=True)
class TimePolicy:
    """How far event time may lie ahead of now (clock skew) and how far behind (retention)."""

    max_future_skew: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=30)

    @classmethod
    def from_settings(cls, events: Any) -> TimePolicy:
        """Build from :class:`millstream.settings.EventSettings`."""
        return cls(max_future_skew=events.max_future_skew, max_age=events.max_age)

    def check(self, field: str, value: datetime, now: datetime | None = None) -> None:
        """Raise ``ValueError`` when ``value`` lies beyond the skew ahead of ``now`` or past retention behind it
        (``now``: the record's own time; the wall clock when not given)."""
        now = now or utc_now()
        if value > now + self.max_future_skew:
            ahead = (value - now).total_seconds()
            msg = f"{field} is {ahead:.0f} s in the future (allowed skew {self.max_future_skew.total_seconds():.0f} s)"
            raise ValueError(msg)
        if value < now - self.max_age:
            msg = f"{field} is older than retention ({self.max_age.days} days)"
            raise ValueError(msg)


DEFAULT_TIME_POLICY = TimePolicy()

#: Validation context that turns the time check off (simulated times, historical replays).
WITHOUT_TIME_CHECK: dict[str, TimePolicy | None] = {"time_policy": None}


class Event(BaseModel):
    """Base of every event. Subclasses name their identity in :meth:`identity` and their event time
    fields in ``time_fields`` (checked against the :class:`TimePolicy`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)

    kind: ClassVar[str] = "event"
    time_fields: ClassVar[tuple[str, ...]] = ()

    event_id: EventId | None = Field(
        default=None, description="Stable id; derived from identity when not given (e.g. source position)."
    )

    def identity(self) -> tuple[object, ...]:
        """What makes two events the same event. Default: the whole content."""
        return tuple(sorted(self.model_dump(exclude={"event_id"}, mode="json").items()))

    @property
    def id(self) -> str:
        assert self.event_id is not None
        return self.event_id

    @classmethod
    def variant(cls, data: dict[str, Any]) -> type[Event]:
        """The event type a payload of this type's topic is validated into: this one, unless the topic carries
        more than one kind (then the topic's type overrides this and picks by the payload)."""
        return cls

    @model_validator(mode="after")
    def _derive_id_and_check_time(self, info: ValidationInfo) -> Event:
        if problem := unstorable_text(self, ""):
            raise ValueError(problem)
        context = info.context if isinstance(info.context, dict) else {}
        policy = context.get("time_policy", DEFAULT_TIME_POLICY)
        if policy is not None:
            now = context.get("now")
            for name in self.time_fields:
                value = getattr(self, name)
                if value is not None:
                    policy.check(name, value, now)
        if self.event_id is None:
            object.__setattr__(self, "event_id", stable_id(self.kind, *self.identity()))
        return self


def require_finite(value: float | None) -> float | None:
    """Reject NaN and infinities with a clear reason (also for values that bypassed the model config)."""
    if value is not None and not math.isfinite(value):
        msg = "must be a finite number"
        raise ValueError(msg)
    return value
