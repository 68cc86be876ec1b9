"""OPC UA timestamps outside what events represent (1601-01-01 is OPC UA's "not set") are treated as absent:
the reading falls back to the next plausible time instead of becoming a dead letter."""

from __future__ import annotations

from datetime import UTC, datetime

from asyncua import ua

from connectors.opcua.readings import MappedNode, ReadingFactory
from millstream.events import SensorReading

NODE = MappedNode("ns=2;s=Temp", "CNC-01", "temp", "C")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
UNSET = datetime(1601, 1, 1)


def test_unset_source_and_server_times_fall_back_to_the_receive_time() -> None:
    value = ua.DataValue(ua.Variant(21.5, ua.VariantType.Double), SourceTimestamp=UNSET, ServerTimestamp=UNSET)
    reading = ReadingFactory("plant", None).reading(NODE, value, NOW)
    assert isinstance(reading, SensorReading)
    assert reading.source_timestamp == NOW
    assert reading.server_timestamp is None


def test_an_unset_source_time_falls_back_to_the_server_time() -> None:
    server = datetime(2026, 6, 1, 11, 59, 59)
    value = ua.DataValue(ua.Variant(21.5, ua.VariantType.Double), SourceTimestamp=UNSET, ServerTimestamp=server)
    reading = ReadingFactory("plant", None).reading(NODE, value, NOW)
    assert isinstance(reading, SensorReading)
    assert reading.source_timestamp == server.replace(tzinfo=UTC)
