"""Builders shared by the output tests: ERP records, endpoints; and :func:`until`, their condition wait."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.erp.models import WebhookEndpointCreate
from connectors.erp.signing import generate_secret
from millstream.events.erp import ErpRecord

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def shipment_record(number: str, minute: int = 0, record_type: str = "shipment.eta_update",
                    **payload: Any) -> ErpRecord:
    return ErpRecord.model_validate(
        {"subject_kind": "shipment", "subject_id": number, "occurred_at": T0 + timedelta(minutes=minute),
         "record_type": record_type, "record_key": number, "erp_keys": {"shipment_number": number},
         "payload": payload or {"minute": minute}},
        context={"time_policy": None},
    )


def confirmation_record(order: str, minute: int = 0, good: int = 10, scrap: int = 1) -> ErpRecord:
    return ErpRecord.model_validate(
        {"subject_kind": "machine", "subject_id": "CNC-01", "occurred_at": T0 + timedelta(minutes=minute),
         "record_type": "production.confirmation", "record_key": order,
         "erp_keys": {"production_order": order, "material": "FG-100"},
         "payload": {"good_qty": good, "scrap_qty": scrap}},
        context={"time_policy": None},
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def endpoint_spec(url: str, *secrets: str, event_types: list[str] | None = None,
                  content_mode: str = "structured") -> WebhookEndpointCreate:
    return WebhookEndpointCreate.model_validate({
        "url": url, "secrets": list(secrets) or [generate_secret()], "event_types": event_types or [],
        "content_mode": content_mode, "description": "test endpoint",
    })


async def until(condition: Callable[[], object], what: str, rounds: int = 3000) -> None:
    """Wait for ``condition()`` (run in a thread: it may query the database) by yielding to the loop; a
    generous bound on polls (at least 15 s), not a timed window. Fails naming ``what`` never happened."""
    for _ in range(rounds):
        if await asyncio.to_thread(condition):
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")
