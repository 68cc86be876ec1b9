"""ERP records as CloudEvents 1.0 over HTTP: structured mode (``application/cloudevents+json``, the
default) or binary mode (attributes in ``ce-*`` headers, the record as the JSON body).

The event's ``id`` is the record's stable event id (also the Standard Webhooks ``webhook-id``), ``type``
is ``io.millstream.erp.<record type>``, ``subject`` the ERP record key and ``time`` the event time.
"""

from __future__ import annotations

from typing import Any

import orjson

from millstream.events.erp import ErpRecord, cloudevent_type

__all__ = ["CLOUDEVENTS_JSON", "SPEC_VERSION", "attributes", "encode", "encode_binary", "encode_structured"]

SPEC_VERSION = "1.0"
CLOUDEVENTS_JSON = "application/cloudevents+json"
_SOURCE_PREFIX = "/millstream/erp/"


def attributes(record: dict[str, Any]) -> dict[str, str]:
    """The CloudEvents context attributes of a record (as stored: ``ErpRecord.model_dump(mode="json")``)."""
    record_type = record["record_type"]
    return {
        "specversion": SPEC_VERSION,
        "id": record["event_id"],
        "source": _SOURCE_PREFIX + record_type.split(".", 1)[0],
        "type": cloudevent_type(record_type),
        "subject": record["record_key"],
        "time": record["occurred_at"],
        "datacontenttype": "application/json",
    }


def encode_structured(record: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """Headers and body of a structured-mode request."""
    event = {**attributes(record), "data": record}
    return {"content-type": CLOUDEVENTS_JSON}, orjson.dumps(event)


def encode_binary(record: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """Headers and body of a binary-mode request."""
    attrs = attributes(record)
    headers = {"ce-" + k: v for k, v in attrs.items() if k != "datacontenttype"}
    headers["content-type"] = attrs["datacontenttype"]
    return headers, orjson.dumps(record)


def encode(record: dict[str, Any] | ErpRecord, mode: str = "structured") -> tuple[dict[str, str], bytes]:
    """Headers and body in ``mode`` (``structured`` or ``binary``)."""
    data = record.model_dump(mode="json") if isinstance(record, ErpRecord) else record
    return encode_binary(data) if mode == "binary" else encode_structured(data)
