"""Every Kafka topic Millstream uses, declared once: name, partitions, message key, retention, event type,
and topic-level broker configuration.

Topics fed by producers that stamp records with their own clock (devices, the simulated world at
``--speed`` above 1, whose clock runs ahead of the wall clock) accept record timestamps any distance in the
future: Kafka 4 refuses records more than ``message.timestamp.after.max.ms`` (default 1 h) ahead of the
broker's clock. Consumers check event time against the record timestamp instead (:mod:`streams.edge`).
``dlq`` allows 1 MiB messages, which every dead letter fits (:mod:`millstream.events.deadletter`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    "DLQ_MAX_MESSAGE_BYTES",
    "ERP_EVENTS",
    "FLEET_GPS",
    "PRODUCER_CLOCK",
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
    config: Mapping[str, str] = field(default_factory=dict, hash=False)

    def full_name(self, settings: KafkaSettings) -> str:
        """The name on the broker (with the configured prefix, e.g. for isolated test runs)."""
        return settings.topic_prefix + self.name

    @property
    def retention_ms(self) -> int:
        return int(self.retention.total_seconds() * 1000)

    def broker_config(self) -> dict[str, str]:
        """The topic-level configuration to create (or align) the topic with."""
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": "delete", **self.config}


#: Record timestamps may lie any distance ahead of the broker's clock (the producer's clock is the reference).
PRODUCER_CLOCK = {"message.timestamp.after.max.ms": str(2**63 - 1)}
#: The largest record ``dlq`` takes; every dead letter fits.
DLQ_MAX_MESSAGE_BYTES = 1024 * 1024


TELEMETRY_READINGS = Topic("telemetry.readings", 6, "machine_id", timedelta(days=7), SensorReading,
                           "OPC-UA sensor readings from the bridge", PRODUCER_CLOCK)
TELEMETRY_STATUS = Topic("telemetry.status", 1, "endpoint", timedelta(days=30), EndpointStatus,
                         "OPC-UA endpoint online/offline changes with the gap", PRODUCER_CLOCK)
FLEET_GPS = Topic("fleet.gps", 3, "truck_id", timedelta(days=7), GpsPing, "truck GPS pings", PRODUCER_CLOCK)
WAREHOUSE_RFID = Topic("warehouse.rfid", 3, "reader_id", timedelta(days=7), RfidRead, "RFID gate reads",
                       PRODUCER_CLOCK)
ALERTS = Topic("alerts", 3, "subject", timedelta(days=30), Alert,
               "alert lifecycle changes, keyed <subject_kind>:<subject_id>", PRODUCER_CLOCK)
ERP_EVENTS = Topic("erp.events", 3, "event_id", timedelta(days=30), ErpRecord, "ERP records from the outbox",
                   PRODUCER_CLOCK)
DLQ = Topic("dlq", 1, "source_topic", timedelta(days=30), DeadLetter, "rejected inputs with reasons",
            {**PRODUCER_CLOCK, "max.message.bytes": str(DLQ_MAX_MESSAGE_BYTES)})

TOPICS: tuple[Topic, ...] = (TELEMETRY_READINGS, TELEMETRY_STATUS, FLEET_GPS, WAREHOUSE_RFID, ALERTS, ERP_EVENTS, DLQ)


def topic_by_name(name: str) -> Topic:
    """The declared topic called ``name`` (without prefix)."""
    for topic in TOPICS:
        if topic.name == name:
            return topic
    msg = f"unknown topic {name!r}; declared: {', '.join(t.name for t in TOPICS)}"
    raise KeyError(msg)
