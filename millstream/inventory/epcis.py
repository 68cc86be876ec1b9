"""GS1 EPCIS 2.0 in JSON-LD: gate passes as ObjectEvents, in an EPCISQueryDocument.

Each gate pass is an ``ObjectEvent`` with action ``OBSERVE``: ``bizStep`` and ``disposition`` from the
movement it made (receiving/in_progress, stocking/available at a line side, shipping/in_transit),
``readPoint`` the gate, ``bizLocation`` where the goods are afterwards (none while in transit), the tag's EPC
URI in ``epcList``, the receipt or shipment as a business transaction and the quantity as an extension
field. Locations without a GLN are named by the URN ``urn:millstream:location:<id>``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

__all__ = ["CONTEXT", "EPCIS_STEPS", "location_id_of", "location_uri", "object_event", "query_document"]

CONTEXT: list[Any] = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                      {"millstream": "https://millstream.example/epcis/"}]

#: movement type -> (bizStep, disposition)
EPCIS_STEPS: dict[str, tuple[str, str]] = {
    "goods_receipt": ("receiving", "in_progress"),
    "transfer": ("stocking", "available"),
    "goods_issue": ("shipping", "in_transit"),
}

_LOCATION_URN = "urn:millstream:location:"


def location_uri(location_id: str) -> str:
    return _LOCATION_URN + location_id


def location_id_of(value: str) -> str:
    """A location id from either the id itself or its URN."""
    return value.removeprefix(_LOCATION_URN)


def _time(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def object_event(row: dict[str, Any]) -> dict[str, Any]:
    """An ObjectEvent from a ``gate_events`` row (plus ``movement_type``, ``to_location_id``, ``reference``)."""
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": uuid.UUID(hex=row["event_id"]).urn,
        "eventTime": _time(row["first_seen_at"]),
        "eventTimeZoneOffset": "+00:00",
        "epcList": [row["epc_uri"]],
        "action": row["action"],
        "bizStep": row["biz_step"],
        "disposition": row["disposition"],
        "readPoint": {"id": location_uri(row["location_id"])},
    }
    if row.get("to_location_id") and row["biz_step"] != "shipping":
        event["bizLocation"] = {"id": location_uri(row["to_location_id"])}
    if row.get("shipment_id"):
        event["bizTransactionList"] = [{"type": "desadv",
                                        "bizTransaction": f"urn:millstream:shipment:{row['shipment_id']}"}]
    elif row.get("reference"):
        event["bizTransactionList"] = [{"type": "recadv",
                                        "bizTransaction": f"urn:millstream:receipt:{row['reference']}"}]
    event["millstream:material"] = row["material_id"]
    event["millstream:quantity"] = float(row["quantity"])
    event["millstream:reader"] = row["reader_id"]
    return event


def query_document(events: list[dict[str, Any]], created: datetime) -> dict[str, Any]:
    """The EPCISQueryDocument answering a ``SimpleEventQuery`` with ``events``."""
    return {
        "@context": CONTEXT,
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": _time(created),
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": events}}},
    }
