"""Every Kafka topic Millstream uses, declared once: name, partitions, message key, retention, event type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel

from millstream.events import DeadLetter, GpsPing, RfidRead, SensorReading
from millstream.events.alerts import Alert
from millstream.events.connectivity import EndpointStatus
from millstream.events.erp import ErpRecord
from millstream.settings import KafkaSettings

__all__ = [
    "ALERTS",
    "DLQ",
    "ERP_EVENTS",
    "FLEET_GPS",
    "TELEMETRY_READINGS",
    "TELEMETRY_STATUS",
    "TOPICS",
    "WAREHOUSE_RFID",
    "Topic",
    "topic_by_name",
]


@dataclass(frozen=True)
class Topic:
    """A topic's declaration. ``key`` names the event field used as message key (the partitioning entity)."""

    name: str
    partitions: int
    key: str
    retention: timedelta
    event_type: type[BaseModel] | None = None
    description: str = ""

    def full_name(self, settings: KafkaSettings) -> str:
        """The name on the broker (with the configured prefix, e.g. for isolated test runs)."""
        return settings.topic_prefix + self.name

    @property
    def retention_ms(self) -> int:
        return int(self.retention.total_seconds() * 1000)


TELEMETRY_READINGS = Topic("telemetry.readings", 6, "machine_id", timedelta(days=7), SensorReading,
                           "OPC-UA sensor readings from the bridge")
TELEMETRY_STATUS = Topic("telemetry.status", 1, "endpoint", timedelta(days=30), EndpointStatus,
                         "OPC-UA endpoint online/offline changes with the gap")
FLEET_GPS = Topic("fleet.gps", 3, "truck_id", timedelta(days=7), GpsPing, "truck GPS pings")
WAREHOUSE_RFID = Topic("warehouse.rfid", 3, "reader_id", timedelta(days=7), RfidRead, "RFID gate reads")
ALERTS = Topic("alerts", 3, "subject", timedelta(days=30), Alert,
               "alert lifecycle changes, keyed <subject_kind>:<subject_id>")
ERP_EVENTS = Topic("erp.events", 3, "event_id", timedelta(days=30), ErpRecord, "ERP records from the outbox")
DLQ = Topic("dlq", 1, "source_topic", timedelta(days=30), DeadLetter, "rejected inputs with reasons")

TOPICS: tuple[Topic, ...] = (TELEMETRY_READINGS, TELEMETRY_STATUS, FLEET_GPS, WAREHOUSE_RFID, ALERTS, ERP_EVENTS, DLQ)


def topic_by_name(name: str) -> Topic:
    """The declared topic called ``name`` (without prefix)."""
    for topic in TOPICS:
        if topic.name == name:
            return topic
    msg = f"unknown topic {name!r}; declared: {', '.join(t.name for t in TOPICS)}"
    raise KeyError(msg)
