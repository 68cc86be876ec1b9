"""One webhook request: an ERP record as a CloudEvent, signed per Standard Webhooks; and reading just the
start of the answer."""

from __future__ import annotations

import time
from typing import Any

import httpx

from connectors.erp.envelope import encode
from connectors.erp.signing import webhook_headers

__all__ = ["EXCERPT_BYTES", "USER_AGENT", "read_excerpt", "signed_request"]

USER_AGENT = "millstream-webhooks/0.1"
EXCERPT_BYTES = 300


def signed_request(record: dict[str, Any], content_mode: str, keys: list[bytes], timestamp: int | None = None
                   ) -> tuple[dict[str, str], bytes]:
    """Headers and body of one webhook request: the record as a CloudEvent in ``content_mode``, signed with
    every key (``webhook-id`` = the record's event id, ``webhook-timestamp`` = now unless given)."""
    headers, body = encode(record, content_mode)
    sent_at = int(time.time()) if timestamp is None else timestamp
    headers.update(webhook_headers(keys, record["event_id"], sent_at, body))
    return headers, body


async def read_excerpt(response: httpx.Response) -> bytes:
    """The start of the answer: a huge or endless body is not read further (the connection is dropped)."""
    received = b""
    async for chunk in response.aiter_bytes():
        received += chunk
        if len(received) >= EXCERPT_BYTES:
            break
    return received[:EXCERPT_BYTES]
