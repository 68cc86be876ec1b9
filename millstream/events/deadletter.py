"""Dead letters: an input that could not be processed, kept whole with why, where and when."""

from __future__ import annotations

import base64
from typing import ClassVar, Literal

from pydantic import Field

from millstream.events.base import Event, UtcDatetime, utc_now

__all__ = ["DeadLetter"]


class DeadLetter(Event):
    """A rejected input. ``payload`` is the raw bytes as UTF-8 text, or base64 when not valid UTF-8."""

    kind: ClassVar[str] = "dead_letter"

    stage: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    error_type: str = Field(min_length=1)
    payload: str
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    source_topic: str | None = None
    source_partition: int | None = None
    source_offset: int | None = None
    source_key: str | None = None
    failed_at: UtcDatetime = Field(default_factory=utc_now)

    @classmethod
    def of(
        cls,
        raw: bytes | str | None,
        *,
        stage: str,
        reason: str,
        error_type: str,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
        key: bytes | str | None = None,
    ) -> DeadLetter:
        """Wrap a raw payload; the id is derived from the source position when known, else the payload."""
        text, encoding = _as_text(raw)
        key_text = _as_text(key)[0] if key is not None else None
        return cls(
            stage=stage, reason=reason[:2000], error_type=error_type, payload=text, payload_encoding=encoding,
            source_topic=topic, source_partition=partition, source_offset=offset, source_key=key_text,
        )

    def raw_bytes(self) -> bytes:
        """The original payload bytes."""
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode()

    def identity(self) -> tuple[object, ...]:
        if self.source_topic is not None and self.source_offset is not None:
            return (self.stage, self.source_topic, self.source_partition, self.source_offset)
        return (self.stage, self.payload_encoding, self.payload)


def _as_text(raw: bytes | str | None) -> tuple[str, Literal["utf-8", "base64"]]:
    if raw is None:
        return "", "utf-8"
    if isinstance(raw, str):
        return raw, "utf-8"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
