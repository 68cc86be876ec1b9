"""RFID gate reads: one :class:`RfidRead` per tag observation of a reader antenna."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, field_validator

from millstream.events.base import Event, UtcDatetime

__all__ = ["RfidRead"]


class RfidRead(Event):
    """An EPC seen by one antenna of one reader (EPC as upper-case hex, RSSI in dBm)."""

    kind: ClassVar[str] = "rfid_read"
    time_fields: ClassVar[tuple[str, ...]] = ("timestamp",)

    reader_id: Annotated[str, Field(min_length=1, max_length=64)]
    antenna: Annotated[int, Field(ge=0, le=64)]
    epc: str
    rssi_dbm: Annotated[float, Field(ge=-130.0, le=20.0)] | None = None
    timestamp: UtcDatetime

    @field_validator("epc")
    @classmethod
    def _epc_hex(cls, value: str) -> str:
        epc = value.strip().upper()
        if not epc or len(epc) % 4 or len(epc) > 124 or any(c not in "0123456789ABCDEF" for c in epc):
            msg = "EPC must be hex, a multiple of 16 bits long (e.g. 24 hex digits for 96-bit tags)"
            raise ValueError(msg)
        return epc

    def identity(self) -> tuple[object, ...]:
        return (self.reader_id, self.antenna, self.epc, self.timestamp)
