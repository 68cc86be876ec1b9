"""Dead letters: an input that could not be processed, kept with why, where and when.

A dead letter always fits where it goes — the ``dlq`` topic (JSON) and the ``dead_letters`` table (text):

- ``payload`` is the raw bytes as UTF-8 text when they are valid UTF-8 without control characters other than
  tab, newline and carriage return (so JSON escaping at most doubles it); otherwise base64
  (``payload_encoding``). :meth:`DeadLetter.raw_bytes` gives the original bytes back.
- A payload larger than the limit given to :meth:`DeadLetter.of` (at most :data:`PAYLOAD_LIMIT`) is kept as its
  first :data:`EXCERPT_BYTES` bytes (``payload_truncated``); ``payload_size`` and ``payload_sha256`` describe the
  whole input either way.
- Text fields (reason, key) never carry NUL or lone surrogates: such characters are written as escapes.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field

from millstream.events.base import Event, UtcDatetime, utc_now

__all__ = ["EXCERPT_BYTES", "PAYLOAD_LIMIT", "DeadLetter", "safe_text"]

#: The largest payload a dead letter carries whole; its JSON then stays under the ``dlq`` topic's 1 MiB.
PAYLOAD_LIMIT = 384 * 1024
#: How much of a larger payload a dead letter keeps.
EXCERPT_BYTES = 1024
_REASON_CHARS = 2000
_KEY_CHARS = 1024
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


class DeadLetter(Event):
    """A rejected input; see the module docstring for how the payload is kept."""

    #: The payload is kept byte for byte: no whitespace stripping.
    model_config = ConfigDict(**{**Event.model_config, "str_strip_whitespace": False})

    kind: ClassVar[str] = "dead_letter"

    stage: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    error_type: str = Field(min_length=1)
    payload: str
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    payload_size: int | None = Field(None, ge=0, description="Bytes of the whole input.")
    payload_sha256: str | None = Field(None, description="SHA-256 (hex) of the whole input.")
    payload_truncated: bool = Field(False, description="The payload is only the input's first bytes.")
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
        limit: int = PAYLOAD_LIMIT,
    ) -> DeadLetter:
        """Wrap a raw payload; the id is derived from the source position when known, else the payload.

        Never raises on the content of ``raw``, ``reason`` or ``key``.
        """
        data = _as_bytes(raw)
        truncated = len(data) > min(limit, PAYLOAD_LIMIT)
        text, encoding = _as_text(data[:EXCERPT_BYTES] if truncated else data)
        key_text = safe_text(key if isinstance(key, str) else key.decode("utf-8", "backslashreplace"))[:_KEY_CHARS] \
            if key is not None else None
        return cls(
            stage=safe_text(stage), reason=safe_text(reason)[:_REASON_CHARS] or "rejected",
            error_type=safe_text(error_type), payload=text, payload_encoding=encoding, payload_size=len(data),
            payload_sha256=hashlib.sha256(data).hexdigest(), payload_truncated=truncated,
            source_topic=topic, source_partition=partition, source_offset=offset, source_key=key_text,
        )

    def raw_bytes(self) -> bytes:
        """The original payload bytes (only the excerpt when ``payload_truncated``)."""
        if self.payload_encoding == "base64":
            return base64.b64decode(self.payload)
        return self.payload.encode()

    def identity(self) -> tuple[object, ...]:
        if self.source_topic is not None and self.source_offset is not None:
            return (self.stage, self.source_topic, self.source_partition, self.source_offset)
        return (self.stage, self.payload_encoding, self.payload, self.payload_sha256)


def safe_text(value: str) -> str:
    """``value`` with NUL and lone surrogates written as escapes (``\\x00``, ``\\ud800``), storable anywhere."""
    if "\x00" in value:
        value = value.replace("\x00", "\\x00")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _as_bytes(raw: bytes | str | None) -> bytes:
    if raw is None:
        return b""
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogatepass")
    return bytes(raw)


def _as_text(data: bytes) -> tuple[str, Literal["utf-8", "base64"]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"
    if _CONTROL.search(text):
        return base64.b64encode(data).decode("ascii"), "base64"
    return text, "utf-8"
