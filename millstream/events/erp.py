"""ERP records: what the pipelines post to the ERP, through the outbox and the webhook dispatcher.

Every record carries the ERP keys from master data (production order, material, location, shipment
number, machine) and a ``record_key``: the ERP record it updates. Records with the same ``record_key`` are
delivered in order (a later update waits for an earlier one); different keys go in parallel.

The id is stable per record type + record key + subject + event time, so a pipeline replay produces the
same ids and the outbox keeps one row per record. A pipeline that knows a better identity (e.g. the source
event id) passes ``event_id`` explicitly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from millstream.events.outputs import OutputEvent

__all__ = ["ERP_RECORD_TYPES", "REQUIRED_KEYS", "ErpKeys", "ErpRecord", "ErpRecordType", "OutboxRow", "cloudevent_type",
           "outbox_row"]

ErpRecordType = Literal[
    # production
    "production.maintenance_notification",
    "production.confirmation",
    "production.goods_issue",
    # inventory
    "inventory.goods_receipt",
    "inventory.transfer",
    "inventory.reorder_proposal",
    "inventory.goods_issue",
    "inventory.stock_exception",
    # shipment
    "shipment.status_change",
    "shipment.eta_update",
    "shipment.delay",
    "shipment.milestone",
    "shipment.proof_of_load",
    "shipment.proof_of_delivery",
]

ERP_RECORD_TYPES: tuple[str, ...] = get_args(ErpRecordType)

#: The ERP keys each record type must carry.
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "production.maintenance_notification": ("machine",),
    "production.confirmation": ("production_order", "material"),
    "production.goods_issue": ("production_order", "material", "location"),
    "inventory.goods_receipt": ("material", "location"),
    "inventory.transfer": ("material", "location"),
    "inventory.reorder_proposal": ("material", "location"),
    "inventory.goods_issue": ("material", "location"),
    "inventory.stock_exception": ("material", "location"),
    "shipment.status_change": ("shipment_number",),
    "shipment.eta_update": ("shipment_number",),
    "shipment.delay": ("shipment_number",),
    "shipment.milestone": ("shipment_number",),
    "shipment.proof_of_load": ("shipment_number",),
    "shipment.proof_of_delivery": ("shipment_number",),
}

Key = Annotated[str, Field(min_length=1, max_length=100)]

#: Prefix of the CloudEvents ``type`` attribute (``io.millstream.erp.shipment.delay``).
CLOUDEVENT_TYPE_PREFIX = "io.millstream.erp."


def cloudevent_type(record_type: str) -> str:
    """The CloudEvents ``type`` of a record type."""
    return CLOUDEVENT_TYPE_PREFIX + record_type


class ErpKeys(BaseModel):
    """The ERP's own keys for what a record concerns (from master data)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    production_order: Key | None = None
    material: Key | None = None
    location: Key | None = None
    shipment_number: Key | None = None
    machine: Key | None = None
    site: Key | None = None
    truck: Key | None = None


class ErpRecord(OutputEvent):
    """One record for the ERP. ``payload`` holds the type's fields (quantities, times, status ...)."""

    kind: ClassVar[str] = "erp_record"

    record_type: ErpRecordType
    record_key: Annotated[str, Field(min_length=1, max_length=200)]
    erp_keys: ErpKeys
    payload: dict[str, Any] = Field(default_factory=dict)

    def identity(self) -> tuple[object, ...]:
        return (self.record_type, self.record_key, self.subject_kind, self.subject_id, self.occurred_at)

    @property
    def record_id(self) -> str:
        """The ``erp.events`` topic's message key (the event id)."""
        return self.id

    @property
    def domain(self) -> str:
        """``production``, ``inventory`` or ``shipment``."""
        return self.record_type.split(".", 1)[0]

    @property
    def cloudevent_type(self) -> str:
        return cloudevent_type(self.record_type)

    @model_validator(mode="after")
    def _required_keys(self) -> ErpRecord:
        missing = [k for k in REQUIRED_KEYS[self.record_type] if getattr(self.erp_keys, k) is None]
        if missing:
            msg = f"{self.record_type} needs erp_keys.{', erp_keys.'.join(missing)}"
            raise ValueError(msg)
        return self


class OutboxRow(NamedTuple):
    """A row of the ERP outbox (:mod:`connectors.erp.outbox`); ``record`` is the record as
    ``ErpRecord.model_dump(mode="json")`` gives it. Built by
    :func:`outbox_row` from a validated record, or directly by a writer whose records come from its own
    trusted code (the ledger's postings: no validation per row on the hot path)."""

    event_id: str
    record_type: str
    record_key: str
    subject_kind: str
    subject_id: str
    occurred_at: datetime
    record: dict[str, Any]  # datetimes may stay datetimes (written as ISO 8601 UTC, ``Z``)


def outbox_row(record: ErpRecord) -> OutboxRow:
    """The outbox row of a validated record."""
    return OutboxRow(record.id, record.record_type, record.record_key, record.subject_kind, record.subject_id,
                     record.occurred_at, record.model_dump(mode="json"))
