"""Ingest dataflow: raw topics -> validated events -> time-series tables; rejects -> ``dlq`` + ``dead_letters``.

``telemetry.readings``, ``fleet.gps`` and ``warehouse.rfid`` are read with edge validation
(:func:`streams.kafka_io.read_events`); good events are upserted into ``sensor_readings``, ``gps_pings`` and
``rfid_reads`` on their stable id, bad ones become dead letters published to ``dlq`` (counted) and stored in
``dead_letters``. Every sink is idempotent, so re-reading a topic from the start — after a crash, or with
``follow=False`` to drain and stop — leaves the tables as they were: exactly-once effect.

Run it with ``millstream ingest``.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from connectors.kafka.topics import FLEET_GPS, TELEMETRY_READINGS, WAREHOUSE_RFID
from connectors.postgres.sink import PostgresSink
from connectors.postgres.timeseries import store_dead_letters, store_gps_pings, store_readings, store_rfid_reads
from millstream.events import GpsPing, RfidRead, SensorReading
from millstream.settings import Settings
from streams.kafka_io import read_events, write_dead_letters

__all__ = ["build_flow"]


def build_flow(settings: Settings, *, follow: bool = True) -> Dataflow:
    """The ingest dataflow; with ``follow=False`` it stops at the end of each topic partition."""
    flow = Dataflow("ingest")
    db = settings.database
    readings = read_events("readings", flow, TELEMETRY_READINGS, settings, model=SensorReading, tail=follow)
    pings = read_events("pings", flow, FLEET_GPS, settings, model=GpsPing, tail=follow)
    reads = read_events("rfid", flow, WAREHOUSE_RFID, settings, model=RfidRead, tail=follow)
    op.output("store_readings", readings.oks, PostgresSink(db, store_readings, "readings"))
    op.output("store_pings", pings.oks, PostgresSink(db, store_gps_pings, "GPS pings"))
    op.output("store_rfid", reads.oks, PostgresSink(db, store_rfid_reads, "RFID reads"))
    rejected = op.merge("rejected", readings.errs, pings.errs, reads.errs)
    write_dead_letters("dlq", rejected, settings)
    op.output("store_dead_letters", rejected, PostgresSink(db, store_dead_letters, "dead letters"))
    return flow
