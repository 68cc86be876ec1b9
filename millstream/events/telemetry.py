"""Machine telemetry read over OPC UA: one :class:`SensorReading` per data change."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from millstream.events.base import Event, UtcDatetime

__all__ = ["Quality", "SensorReading", "quality_of"]

Quality = Literal["good", "uncertain", "bad"]
Identifier = Annotated[str, Field(min_length=1, max_length=128)]


def quality_of(status_code: int) -> Quality:
    """OPC UA StatusCode severity (the two top bits): 00 good, 01 uncertain, 10/11 bad."""
    severity = (status_code >> 30) & 0b11
    return "good" if severity == 0 else "uncertain" if severity == 1 else "bad"


class SensorReading(Event):
    """A value of one tag of one machine at its source time, with the OPC UA status kept.

    ``value`` is ``None`` when the server reported a bad status without a value. ``status_code`` is the raw
    OPC UA StatusCode (uint32); ``quality`` is derived from it.
    """

    kind: ClassVar[str] = "sensor_reading"
    time_fields: ClassVar[tuple[str, ...]] = ("source_timestamp",)

    machine_id: Identifier
    tag: Identifier
    value: bool | int | float | str | None
    unit: str | None = None
    status_code: int = Field(0, ge=0, le=0xFFFFFFFF)
    quality: Quality
    source_timestamp: UtcDatetime
    server_timestamp: UtcDatetime | None = None
    node_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _quality_from_status(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("quality") is None:
            status = data.get("status_code", 0)
            if isinstance(status, int) and not isinstance(status, bool) and 0 <= status <= 0xFFFFFFFF:
                data = {**data, "quality": quality_of(status)}
        return data

    @model_validator(mode="after")
    def _quality_matches_status(self) -> SensorReading:
        if self.quality != quality_of(self.status_code):
            msg = f"quality {self.quality!r} contradicts status_code 0x{self.status_code:08X}"
            raise ValueError(msg)
        if self.quality == "good" and self.value is None:
            msg = "a good reading must carry a value"
            raise ValueError(msg)
        return self

    def identity(self) -> tuple[object, ...]:
        return (self.machine_id, self.tag, self.source_timestamp)
