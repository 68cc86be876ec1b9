"""Ingest dataflow: raw topics -> validated events -> time-series tables; rejects -> ``dlq`` + ``dead_letters``.

``telemetry.readings``, ``fleet.gps``, ``warehouse.rfid`` and ``telemetry.status`` are read with edge
validation (:func:`streams.kafka_io.read_events`); good events are upserted into ``sensor_readings``,
``gps_pings``, ``rfid_reads`` on their stable id, and the latest status per OPC-UA endpoint into
``opcua_endpoint_status``; bad ones become dead letters published to ``dlq`` (counted) and stored in
``dead_letters``. A row the database refuses becomes a dead letter of stage ``store``, in both places too.
Every sink is idempotent, so re-reading a topic from the start — after a crash, or with ``follow=False`` to
drain and stop — leaves the tables as they were: exactly-once effect.

Run it with ``millstream ingest``.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Dataflow

from connectors.kafka.topics import FLEET_GPS, TELEMETRY_READINGS, TELEMETRY_STATUS, WAREHOUSE_RFID
from connectors.postgres.endpoint_status import store_endpoint_status
from connectors.postgres.sink import PostgresSink
from connectors.postgres.timeseries import store_dead_letters, store_gps_pings, store_readings, store_rfid_reads
from millstream.events import GpsPing, RfidRead, SensorReading
from millstream.events.connectivity import EndpointStatus
from millstream.settings import Settings
from streams.kafka_io import DlqPublisher, read_events, write_dead_letters

__all__ = ["build_flow"]


def build_flow(settings: Settings, *, follow: bool = True) -> Dataflow:
    """The ingest dataflow; with ``follow=False`` it stops at the end of each topic partition.

    Ingest needs the four raw topics and ``dlq`` to exist (``millstream kafka create-topics``).
    """
    flow = Dataflow("ingest")
    db = settings.database
    publish = DlqPublisher(settings)
    readings = read_events("readings", flow, TELEMETRY_READINGS, settings, model=SensorReading, tail=follow)
    pings = read_events("pings", flow, FLEET_GPS, settings, model=GpsPing, tail=follow)
    reads = read_events("rfid", flow, WAREHOUSE_RFID, settings, model=RfidRead, tail=follow)
    statuses = read_events("status", flow, TELEMETRY_STATUS, settings, model=EndpointStatus, tail=follow)
    op.output("store_readings", readings.oks, PostgresSink(db, store_readings, "readings", publish=publish))
    op.output("store_pings", pings.oks, PostgresSink(db, store_gps_pings, "GPS pings", publish=publish))
    tag_reads = op.filter("tag_reads", reads.oks, lambda read: isinstance(read, RfidRead))  # not heartbeats
    op.output("store_rfid", tag_reads, PostgresSink(db, store_rfid_reads, "RFID reads", publish=publish))
    op.output("store_status", statuses.oks,
              PostgresSink(db, store_endpoint_status, "endpoint statuses", publish=publish))
    rejected = op.merge("rejected", readings.errs, pings.errs, reads.errs, statuses.errs)
    write_dead_letters("dlq", rejected, settings)
    op.output("store_dead_letters", rejected,
              PostgresSink(db, store_dead_letters, "dead letters", keep_rejects=False))
    return flow
