"""Typed events: what flows between Millstream's stages. Import them from here."""

from millstream.events.base import DEFAULT_TIME_POLICY, Event, TimePolicy, UtcDatetime, stable_id, utc_now
from millstream.events.deadletter import DeadLetter
from millstream.events.fleet import GpsPing
from millstream.events.outputs import OutputEvent, SubjectKind
from millstream.events.telemetry import Quality, SensorReading, quality_of
from millstream.events.warehouse import GateMessage, ReaderHeartbeat, RfidRead

__all__ = [
    "DEFAULT_TIME_POLICY",
    "DeadLetter",
    "Event",
    "GateMessage",
    "GpsPing",
    "OutputEvent",
    "Quality",
    "ReaderHeartbeat",
    "RfidRead",
    "SensorReading",
    "SubjectKind",
    "TimePolicy",
    "UtcDatetime",
    "quality_of",
    "stable_id",
    "utc_now",
]
