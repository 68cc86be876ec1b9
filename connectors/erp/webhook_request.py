"""One webhook request: an ERP record as a CloudEvent, signed per Standard Webhooks (sent by
:mod:`connectors.erp.http_client`)."""

from __future__ import annotations

import time
from typing import Any

from connectors.erp.envelope import encode
from connectors.erp.signing import webhook_headers

__all__ = ["EXCERPT_BYTES", "USER_AGENT", "signed_request"]

USER_AGENT = "millstream-webhooks/0.1"
#: How much of an answer is read and kept in the attempt log.
EXCERPT_BYTES = 300


def signed_request(record: dict[str, Any], content_mode: str, keys: list[bytes], timestamp: int | None = None
                   ) -> tuple[dict[str, str], bytes]:
    """Headers and body of one webhook request: the record as a CloudEvent in ``content_mode``, signed with
    every key (``webhook-id`` = the record's event id, ``webhook-timestamp`` = now unless given)."""
    headers, body = encode(record, content_mode)
    sent_at = int(time.time()) if timestamp is None else timestamp
    headers.update(webhook_headers(keys, record["event_id"], sent_at, body))
    return headers, body

