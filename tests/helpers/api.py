"""API request helpers: bearer headers, ids no other test uses."""

from __future__ import annotations

import uuid


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique(prefix: str) -> str:
    """An id no other test uses (tests share the session database)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
