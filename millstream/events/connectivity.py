"""Connection status of a data source endpoint: when it went offline and when it came back.

The OPC-UA connector emits an :class:`EndpointStatus` on every transition so that a gap in a machine's
readings is explained downstream (and in the UI) instead of looking like a silent machine.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from millstream.events.base import Event, UtcDatetime

__all__ = ["EndpointState", "EndpointStatus"]

EndpointState = Literal["online", "offline"]


class EndpointStatus(Event):
    """An endpoint went ``online`` or ``offline`` at ``since``.

    For ``online`` after an outage, ``offline_since`` is when the outage began, so the gap is
    ``since - offline_since`` (:attr:`gap_s`). ``attempts`` counts the connection attempts the outage took.
    ``reason`` says why the endpoint went offline (socket error, keep-alive timeout, rejected certificate...).
    """

    kind: ClassVar[str] = "endpoint_status"
    time_fields: ClassVar[tuple[str, ...]] = ("since",)

    endpoint: str = Field(min_length=1, max_length=512, description="Endpoint name or URL.")
    url: str = Field(min_length=1, max_length=512)
    state: EndpointState
    since: UtcDatetime
    offline_since: UtcDatetime | None = None
    attempts: int = Field(0, ge=0, le=2**31 - 1)
    reason: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _gap_is_ordered(self) -> EndpointStatus:
        if self.offline_since is not None and self.offline_since > self.since:
            msg = "offline_since must not be after since"
            raise ValueError(msg)
        return self

    @property
    def gap_s(self) -> float | None:
        """Seconds without a connection, for an ``online`` status that ends an outage."""
        if self.state != "online" or self.offline_since is None:
            return None
        return (self.since - self.offline_since).total_seconds()

    def identity(self) -> tuple[object, ...]:
        return (self.endpoint, self.state, self.since)
