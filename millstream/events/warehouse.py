"""What RFID gate readers publish on ``warehouse.rfid``: one :class:`RfidRead` per tag observation of a reader
antenna, and a :class:`ReaderHeartbeat` now and then.

A reader's heartbeat (LLRP's KEEPALIVE, a reader's "heartbeat" event) says, in event time, that the reader is
alive and has published every read up to its timestamp. Reads are rare at a quiet door, so without it the gate
stream's event-time watermark — the oldest partition's newest time — stops at a quiet reader's last read and
holds back every pass decision behind it; with it the watermark follows the readers' clocks.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from millstream.events.base import Event, UtcDatetime

__all__ = ["GateMessage", "ReaderHeartbeat", "RfidRead"]


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

    @classmethod
    def variant(cls, data: dict[str, Any]) -> type[Event]:
        """A payload with ``heartbeat`` is a :class:`ReaderHeartbeat` (the same topic, the same key)."""
        return ReaderHeartbeat if "heartbeat" in data else cls


class ReaderHeartbeat(Event):
    """Reader ``reader_id`` is alive and has published every read before ``timestamp``:
    ``{"reader_id": "RDR-LIV-DOCK-1", "heartbeat": true, "timestamp": "..."}``."""

    kind: ClassVar[str] = "reader_heartbeat"
    time_fields: ClassVar[tuple[str, ...]] = ("timestamp",)

    reader_id: Annotated[str, Field(min_length=1, max_length=64)]
    heartbeat: Literal[True]
    timestamp: UtcDatetime

    def identity(self) -> tuple[object, ...]:
        return (self.reader_id, self.timestamp)


#: One message of ``warehouse.rfid``.
GateMessage = RfidRead | ReaderHeartbeat
