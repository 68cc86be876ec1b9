"""Writers for the time-series tables and the dead-letter table (idempotent on the stable event id).

Each writer takes a batch, runs one ``INSERT ... ON CONFLICT DO NOTHING`` per row in one transaction and
returns how many rows were new, so a replayed batch adds nothing. Use them with
:class:`connectors.postgres.sink.PostgresSink` in dataflows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.postgres.database import executemany
from millstream.events import DeadLetter, GpsPing, RfidRead, SensorReading

__all__ = ["store_dead_letters", "store_gps_pings", "store_readings", "store_rfid_reads"]

_READINGS = """
INSERT INTO sensor_readings (time, event_id, machine_id, tag, value_num, value_text, unit, status_code,
                             quality, server_time, node_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (event_id, time) DO NOTHING
"""
_PINGS = """
INSERT INTO gps_pings (time, event_id, truck_id, lat, lon, speed_kmh, heading_deg, accuracy_m)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (event_id, time) DO NOTHING
"""
_RFID = """
INSERT INTO rfid_reads (time, event_id, reader_id, antenna, epc, rssi_dbm)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (event_id, time) DO NOTHING
"""
_DEAD_LETTERS = """
INSERT INTO dead_letters (event_id, failed_at, stage, reason, error_type, payload, payload_encoding,
                          payload_size, payload_sha256, payload_truncated,
                          source_topic, source_partition, source_offset, source_key)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (event_id) DO NOTHING
"""


def _value_columns(value: bool | int | float | str | None) -> tuple[float | None, str | None]:
    """Numbers (and booleans as 0/1) go to ``value_num``; text to ``value_text``."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return None, value
    return float(value), None


def store_readings(conn: Any, readings: Sequence[SensorReading]) -> int:
    rows = [(r.source_timestamp, r.id, r.machine_id, r.tag, *_value_columns(r.value), r.unit, r.status_code,
             r.quality, r.server_timestamp, r.node_id) for r in readings]
    return executemany(conn, _READINGS, rows)


def store_gps_pings(conn: Any, pings: Sequence[GpsPing]) -> int:
    rows = [(p.timestamp, p.id, p.truck_id, p.lat, p.lon, p.speed_kmh, p.heading_deg, p.accuracy_m)
            for p in pings]
    return executemany(conn, _PINGS, rows)


def store_rfid_reads(conn: Any, reads: Sequence[RfidRead]) -> int:
    rows = [(r.timestamp, r.id, r.reader_id, r.antenna, r.epc, r.rssi_dbm) for r in reads]
    return executemany(conn, _RFID, rows)


def store_dead_letters(conn: Any, letters: Sequence[DeadLetter]) -> int:
    rows = [(d.id, d.failed_at, d.stage, d.reason, d.error_type, d.payload, d.payload_encoding, d.payload_size,
             d.payload_sha256, d.payload_truncated, d.source_topic, d.source_partition, d.source_offset,
             d.source_key) for d in letters]
    return executemany(conn, _DEAD_LETTERS, rows)
