"""Reading a ``text/event-stream`` answer in tests: a small parser of the format (events, comments, retry)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Sse", "next_events", "next_item", "sse_items"]


@dataclass(frozen=True)
class Sse:
    """One item of a stream: an event (``kind`` = its type), a comment (``kind == "comment"``) or a retry."""

    kind: str
    id: str | None
    data: Any


def sse_items(lines: Iterator[str]) -> Iterator[Sse]:
    kind, event_id, data = "", None, []
    for line in lines:
        if line == "":
            if data:
                yield Sse(kind or "message", event_id, json.loads("\n".join(data)))
            kind, event_id, data = "", None, []
        elif line.startswith(":"):
            yield Sse("comment", None, line[1:].strip())
        else:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "data":
                data.append(value)
            elif field == "event":
                kind = value
            elif field == "id":
                event_id = value
            elif field == "retry":
                yield Sse("retry", None, int(value))


def next_events(items: Iterator[Sse], count: int, *, kind: str = "alert", max_items: int = 120) -> list[Sse]:
    """The next ``count`` events of ``kind`` (other items skipped); fails after ``max_items`` items (with a
    keep-alive every fraction of a second, that bounds the wait)."""
    found: list[Sse] = []
    for _, item in zip(range(max_items), items, strict=False):
        if item.kind == kind:
            found.append(item)
            if len(found) == count:
                return found
    raise AssertionError(f"only {len(found)} of {count} {kind!r} events arrived: {found}")


def next_item(items: Iterator[Sse], *, skip: tuple[str, ...] = ("retry",)) -> Sse:
    """The next item that is not of a kind in ``skip``."""
    for item in items:
        if item.kind not in skip:
            return item
    raise AssertionError("the stream ended")
