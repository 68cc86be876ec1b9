"""OPC-UA data changes -> :class:`SensorReading` (or a :class:`DeadLetter` naming endpoint and node).

* The raw StatusCode is kept; quality (good / uncertain / bad) derives from it. A bad status keeps its value
  when the server sent one and ``None`` otherwise, so bad and uncertain readings stay visible downstream.
* Scalars pass as they are (bool, int, float, str); DateTime becomes RFC 3339 text, LocalizedText its text,
  enumerations their integer. Arrays, byte strings and structures cannot be a reading: they become dead
  letters (``error_type`` ``opcua_value``) naming the endpoint and node.
* Timestamps: the reading's event time is the *source* timestamp. When the source timestamp is missing or
  implausible under the time policy (a device clock in 2016 or in the future — node-opcua's sample server
  and many PLCs do this), the server timestamp is used instead, and the receive time when that is also
  implausible. ``TIMESTAMP_FALLBACKS`` counts each fallback so a drifting device clock is visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from asyncua import ua
from prometheus_client import Counter
from pydantic import ValidationError

from millstream.events import DeadLetter, SensorReading, TimePolicy
from millstream.events.base import MAX_TIME, MIN_TIME, as_utc
from millstream.serde import format_validation_error

__all__ = ["READINGS_STAGE", "TIMESTAMP_FALLBACKS", "MappedNode", "ReadingFactory"]

READINGS_STAGE = "opcua.readings"

TIMESTAMP_FALLBACKS = Counter(
    "millstream_opcua_timestamp_fallbacks_total",
    "OPC-UA readings whose source timestamp was missing or implausible, by endpoint and the time used instead.",
    ["endpoint", "used"],
)


@dataclass(frozen=True)
class MappedNode:
    """A monitored node and what it means: ``tag`` of ``machine_id``."""

    node_id: str
    machine_id: str
    tag: str
    unit: str | None = None


def _timestamp(value: datetime | None) -> datetime | None:
    """An OPC UA DateTime as UTC; ``None`` when absent or outside what events represent (OPC UA's minimum,
    1601-01-01, means "not set")."""
    if value is None:
        return None
    utc = as_utc(value)
    return utc if MIN_TIME <= utc < MAX_TIME else None


def _scalar(value: Any) -> bool | int | float | str | None:
    """A reading value, or raise ``TypeError`` naming the OPC UA type that cannot be one."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            msg = f"non-finite number {value!r}"
            raise TypeError(msg)
        return value
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, ua.LocalizedText):
        return value.Text
    if isinstance(value, ua.QualifiedName):
        return value.to_string()
    if isinstance(value, ua.NodeId):
        return value.to_string()
    msg = f"unsupported value type {type(value).__name__}"
    raise TypeError(msg)


class ReadingFactory:
    """Builds readings for one endpoint under a time policy (``now`` injectable for tests)."""

    def __init__(self, endpoint: str, policy: TimePolicy | None) -> None:
        self.endpoint = endpoint
        self.policy = policy
        self._used_server_time = TIMESTAMP_FALLBACKS.labels(endpoint, "server")
        self._used_receive_time = TIMESTAMP_FALLBACKS.labels(endpoint, "received")

    def _plausible(self, value: datetime | None, now: datetime) -> bool:
        if value is None:
            return False
        if self.policy is None:
            return True
        try:
            self.policy.check("source_timestamp", value, now)
        except ValueError:
            return False
        return True

    def event_time(self, source: datetime | None, server: datetime | None, now: datetime) -> datetime:
        if self._plausible(source, now):
            return source  # type: ignore[return-value]
        if self._plausible(server, now):
            self._used_server_time.inc()
            return server  # type: ignore[return-value]
        self._used_receive_time.inc()
        return now

    def reading(self, node: MappedNode, data_value: ua.DataValue, now: datetime) -> SensorReading | DeadLetter:
        """One data change as a reading, or a dead letter that says which endpoint/node and why."""
        status = data_value.StatusCode.value if data_value.StatusCode is not None else 0
        variant = data_value.Value
        raw_value = variant.Value if variant is not None else None
        source = _timestamp(data_value.SourceTimestamp)
        server = _timestamp(data_value.ServerTimestamp)
        try:
            value = _scalar(raw_value)
        except TypeError as exc:
            return self.dead_letter(node, f"{exc}", "opcua_value", raw_value, status, source, server)
        if value is None and (status >> 30) & 0b11 == 0:
            return self.dead_letter(node, "good status without a value", "opcua_value", raw_value, status,
                                    source, server)
        try:
            return SensorReading.model_validate(
                {"machine_id": node.machine_id, "tag": node.tag, "value": value, "unit": node.unit,
                 "status_code": status, "source_timestamp": self.event_time(source, server, now),
                 "server_timestamp": server, "node_id": node.node_id},
                context={"time_policy": None},
            )
        except ValidationError as exc:
            return self.dead_letter(node, format_validation_error(exc), "validation", raw_value, status,
                                    source, server)

    def no_communication(self, node: MappedNode, since: datetime) -> SensorReading:
        """The reading that marks ``node`` as unknown from ``since`` on: the session was lost."""
        return SensorReading.model_validate(
            {"machine_id": node.machine_id, "tag": node.tag, "value": None, "unit": node.unit,
             "status_code": ua.StatusCodes.BadNoCommunication, "source_timestamp": since, "node_id": node.node_id},
            context={"time_policy": None},
        )

    def dead_letter(
        self, node: MappedNode | str, reason: str, error_type: str, raw_value: Any = None, status: int | None = None,
        source: datetime | None = None, server: datetime | None = None,
    ) -> DeadLetter:
        node_id = node.node_id if isinstance(node, MappedNode) else node
        payload = {"endpoint": self.endpoint, "node_id": node_id, "value": repr(raw_value)[:500],
                   "status_code": status, "source_timestamp": source, "server_timestamp": server}
        if isinstance(node, MappedNode):
            payload |= {"machine_id": node.machine_id, "tag": node.tag}
        return DeadLetter.of(
            orjson.dumps(payload, option=orjson.OPT_UTC_Z), stage=READINGS_STAGE, error_type=error_type,
            reason=f"endpoint {self.endpoint!r} node {node_id}: {reason}", key=node_id,
        )
