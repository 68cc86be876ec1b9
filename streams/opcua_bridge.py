"""The OPC-UA bridge: machine readings from OPC-UA servers into Kafka ``telemetry.readings``.

OPC UA is live-only (see :mod:`connectors.opcua.source`), so this bridge is the durable path: every reading
is written to Kafka as it arrives, keyed by machine id, with a stable event id; downstream dataflows read
Kafka, whose offsets replay after a crash. Dead letters (unresolvable nodes, values that cannot be readings)
go to ``dlq``. Endpoint status changes (offline/online with the gap) are logged, exported as Prometheus
metrics (``millstream_opcua_endpoint_online``) and published to ``telemetry.status`` (keyed by endpoint; pass
``status_topic=None`` to leave them out).

For a quick look, ``sink="stdout"`` prints one JSON object per item instead: readings, status changes and
dead letters, each exactly the document that goes to its Kafka topic (``telemetry.readings``,
``telemetry.status``, ``dlq``).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Literal

import bytewax.operators as op
from bytewax.connectors.stdio import StdOutSink
from bytewax.dataflow import Dataflow, Stream

from connectors.kafka.topics import TELEMETRY_READINGS, TELEMETRY_STATUS, Topic
from connectors.opcua.config import ConnectorConfig
from connectors.opcua.source import OpcuaSource
from millstream.events import DeadLetter, SensorReading
from millstream.events.connectivity import EndpointStatus
from millstream.metrics import EVENTS_ACCEPTED, EVENTS_IN
from millstream.serde import encode
from millstream.settings import Settings
from streams.kafka_io import write_dead_letters, write_events

__all__ = ["build_flow", "to_json_line"]

logger = logging.getLogger(__name__)

STAGE = "opcua_bridge"

Sink = Literal["kafka", "stdout"]


def to_json_line(item: SensorReading | EndpointStatus | DeadLetter) -> str:
    """One item as a single JSON line: the document :func:`millstream.serde.encode` writes to Kafka."""
    return encode(item).decode()


def _log_status(status: EndpointStatus) -> EndpointStatus:
    gap = f", gap {status.gap_s:.2f} s" if status.gap_s is not None else ""
    logger.info("endpoint %s is %s since %s%s%s", status.endpoint, status.state, status.since.isoformat(), gap,
                f" ({status.reason})" if status.reason else "")
    return status


def _counted(reading: SensorReading) -> SensorReading:
    EVENTS_IN.labels(STAGE).inc()
    EVENTS_ACCEPTED.labels(STAGE).inc()
    return reading


def build_flow(
    settings: Settings,
    config: ConnectorConfig,
    *,
    sink: Sink = "kafka",
    duration: timedelta | None = None,
    status_topic: Topic | None = TELEMETRY_STATUS,
    source: OpcuaSource | None = None,
) -> Dataflow:
    """OPC-UA endpoints of ``config`` -> Kafka (or stdout). ``duration`` ends the flow after that long."""
    flow = Dataflow(STAGE)
    items: Stream[Any] = op.input("opcua_in", flow, source or OpcuaSource(settings, config, duration=duration))
    if sink == "stdout":
        op.output("stdout", op.map("json_lines", items, to_json_line), StdOutSink())
        return flow
    readings_or_not = op.branch("is_reading", items, lambda item: isinstance(item, SensorReading))
    statuses_or_dead = op.branch("is_status", readings_or_not.falses, lambda item: isinstance(item, EndpointStatus))
    write_events("readings_out", op.map("count", readings_or_not.trues, _counted), TELEMETRY_READINGS, settings)
    statuses = op.map("log_status", statuses_or_dead.trues, _log_status)
    if status_topic is not None:
        write_events("status_out", statuses, status_topic, settings)
    write_dead_letters("dlq_out", statuses_or_dead.falses, settings)
    return flow
