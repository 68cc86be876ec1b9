"""Logistics dataflow: ``fleet.gps`` -> cleaned tracks, geofence events, shipment milestones, ETAs, alerts and
ERP shipment records.

Pings are validated at the edge (:func:`streams.kafka_io.read_events`); pings of trucks master data does not
know, or of trucks without any shipment, become dead letters with the reason. The rest are keyed by truck
and processed by :class:`millstream.logistics.truck.Logistics` (cleaning, geofences, shipment state, ETA) in a stateful
step that releases its reorder buffer at the end of the input. Its outputs go to:

- PostgreSQL (migration 0012): ``truck_positions``, ``geofence_events``, ``shipment_milestones``,
  ``shipment_etas``, ``shipment_state`` — idempotent writers — together with the ERP outbox records of the
  same batch (status changes, milestones, ETA updates only when the ETA moved by more than
  ``logistics.eta_publish_s``) in one transaction; delays (changes of the delay alert) go to the outbox
  too. Stable ids: the ERP sees each record once, also when the flow is killed and re-reads its input;
- the shared alert lifecycle (:mod:`streams.alerting`): ``shipment.delay`` (severity by lateness,
  hysteresis), ``shipment.route_deviation``, ``truck.long_dwell`` and ``truck.offline`` — the last one from
  the fleet clock (:mod:`millstream.logistics.fleet_clock`), in event time.

Every ping that passed the edge counts in ``millstream_logistics_pings_total{quality="received"}`` and gets
exactly one outcome: ``ok``, ``outlier`` or ``late`` (its track row, once the truck's reorder buffer releases
it) or ``rejected`` (no such truck, no shipment); until released it is counted by the gauge
``millstream_logistics_pings_buffered``, so received = ok + outlier + late + rejected + buffered at any time.

Master data comes in as a :class:`~millstream.masterdata.Scenario`. Run it with ``millstream logistics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, cast, get_args

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.operators import StatefulLogic

from connectors.erp.sink import OutboxSink
from connectors.kafka.admin import partitions_with_data
from connectors.kafka.topics import FLEET_GPS
from connectors.postgres.logistics import store_outputs
from connectors.postgres.sink import PostgresSink
from connectors.postgres.timeseries import store_dead_letters
from millstream.events import DeadLetter, GpsPing
from millstream.events.erp import ErpRecord
from millstream.logistics.cleaning import PingVerdict
from millstream.logistics.fleet_clock import FleetClock
from millstream.logistics.outputs import (
    AlertCondition,
    Beat,
    EtaRow,
    FenceEventRow,
    MilestoneRow,
    PositionRow,
    ShipmentSnapshot,
)
from millstream.logistics.records import delay_record
from millstream.logistics.rules import alert_rules
from millstream.logistics.truck import BEAT_EVERY, DELAY, Logistics, TruckState, UnknownTruck
from millstream.masterdata import Scenario
from millstream.metrics import LOGISTICS_PINGS, LOGISTICS_PINGS_BUFFERED
from millstream.serde import encode
from millstream.settings import Settings
from streams.alerting import raise_alerts, write_alerts
from streams.kafka_io import DlqPublisher, read_events, write_dead_letters
from streams.operators import check

__all__ = ["build_flow"]

#: Messages per partition per poll: keeps partitions within minutes of each other in event time while
#: catching up, so the fleet clock's watermark (the slowest partition) does not lag far behind (partition
#: idleness is the shared rule of :mod:`millstream.watermark`).
_BATCH = 100

#: Beats from the other partitions after which a silent partition of ``fleet.gps`` is idle for the fleet clock.
#: Not the inventory's 100,000 reads: with ~4 beats per truck-minute, a truck alone in its partition that falls
#: silent (a dead zone, or parked after arrival) holds the fleet's watermark - every truck's offline decision -
#: back until then; 1,000 beats is about an hour of event time for a 5-truck fleet, and still 10 times the
#: 100 pings of a poll batch (the partitions with pings at start wait until heard from in any case).
FLEET_IDLE_BEATS = 1_000


class _TruckLogic(StatefulLogic[tuple[int, GpsPing], Any, TruckState]):
    """Bytewax's wrapper around :meth:`Logistics.on_ping` for one truck (flushes at end of input); keeps
    ``millstream_logistics_pings_buffered`` at the number of pings waiting in the truck's reorder buffer."""

    def __init__(self, logistics: Logistics, state: TruckState | None) -> None:
        self.logistics = logistics
        self.state = TruckState() if state is None else logistics.resume(state)
        self.truck: str | None = None
        _BUFFERED.inc(len(self.state.pings.pending))  # back from a snapshot: still waiting for their outcome

    def _buffered(self, outputs: list[Any], before: int) -> list[Any]:
        _BUFFERED.inc(len(self.state.pings.pending) - before)
        return outputs

    def on_item(self, value: tuple[int, GpsPing]) -> tuple[Iterable[Any], bool]:
        partition, ping = value
        self.truck = ping.truck_id
        before = len(self.state.pings.pending)
        return self._buffered(self.logistics.on_ping(self.state, ping, partition), before), StatefulLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[Any], bool]:
        if self.truck is None:
            return [], StatefulLogic.RETAIN
        before = len(self.state.pings.pending)
        return self._buffered(self.logistics.on_end(self.truck, self.state), before), StatefulLogic.RETAIN

    def snapshot(self) -> TruckState:
        return self.state


def _only(step_id: str, up: Stream[Any], kind: type | tuple[type, ...]) -> Stream[Any]:
    return op.filter(step_id, up, lambda item: isinstance(item, kind))


#: What the per-truck step emits that is written in one transaction per batch (tables and outbox).
_STORED = (PositionRow, FenceEventRow, MilestoneRow, EtaRow, ShipmentSnapshot, ErpRecord)
#: Every ping that passed the edge is received and gets exactly one outcome: ok, outlier or late (as its track
#: row says, once the reorder buffer releases it) or rejected (no truck or no shipment: a dead letter); until
#: released it counts in millstream_logistics_pings_buffered.
_QUALITY = {q: LOGISTICS_PINGS.labels(q) for q in get_args(PingVerdict)}
_RECEIVED = LOGISTICS_PINGS.labels("received")
_REJECTED = LOGISTICS_PINGS.labels("rejected")
_BUFFERED = LOGISTICS_PINGS_BUFFERED


def _of_type(alert_type: str) -> Callable[[AlertCondition], bool]:
    return lambda c: c.alert_type == alert_type


def _count_quality(_step: str, item: Any) -> None:
    if isinstance(item, PositionRow):
        _QUALITY[item.quality].inc()


def build_flow(settings: Settings, scenario: Scenario, *, follow: bool = True) -> Dataflow:
    """The logistics dataflow over ``scenario``'s trucks and shipments; ``follow=False`` stops at topic ends."""
    logistics = Logistics(scenario, settings.logistics)
    db = settings.database
    flow = Dataflow("logistics")
    pings = read_events("pings", flow, FLEET_GPS, settings, model=GpsPing, tail=follow,
                        batch_size=_BATCH, tag=lambda msg, ping: (msg.partition, ping))

    def known(item: tuple[int, GpsPing]) -> tuple[int, GpsPing]:
        _RECEIVED.inc()
        try:
            logistics.check_truck(item[1].truck_id)
        except UnknownTruck:
            _REJECTED.inc()
            raise
        return item

    tagged = cast(Stream[tuple[int, GpsPing]], pings.oks)
    usable = check("logistics_truck", tagged, known, raw=lambda item: encode(item[1]))
    keyed = op.key_on("by_truck", usable.oks, lambda item: item[1].truck_id)
    outputs = op.map("unkey", op.stateful("truck", keyed, lambda resume: _TruckLogic(logistics, resume)),
                     lambda kv: kv[1])

    op.inspect("count_quality", outputs, _count_quality)
    op.output("store", _only("rows", outputs, _STORED),
              PostgresSink(db, store_outputs, "logistics rows", publish=DlqPublisher(settings)))

    conditions = _only("conditions", outputs, AlertCondition)
    beats = op.key_on("fleet", _only("beats", outputs, Beat), lambda _beat: "fleet")
    clock = FleetClock(timedelta(minutes=settings.logistics.offline_after_min),
                       timedelta(seconds=settings.logistics.allowed_lateness_s), idle_beats=FLEET_IDLE_BEATS,
                       beat_every=BEAT_EVERY,
                       partitions=partitions_with_data(settings.kafka, FLEET_GPS))
    offline = op.map("unkey_clock", op.stateful_flat_map("fleet_clock", beats, clock), lambda kv: kv[1])
    conditions = op.merge("all_conditions", conditions, offline)
    alerts = []
    for alert_type, rule in alert_rules(settings.logistics).items():
        name = alert_type.replace(".", "_")
        samples = op.map(f"{name}_samples", op.filter(f"{name}_only", conditions, _of_type(alert_type)),
                         lambda c: c.condition)
        alerts.append(raise_alerts(f"{name}_alerts", samples, rule))
    all_alerts = op.merge("alerts", *alerts)
    write_alerts("write_alerts", all_alerts, settings)

    delays = op.map("delay_records", op.filter("delay_alerts", all_alerts, lambda a: a.alert_type == DELAY),
                    delay_record)
    op.output("outbox", delays, OutboxSink(db))

    rejected: Stream[DeadLetter] = op.merge("rejected", pings.errs, usable.errs)
    write_dead_letters("dlq", rejected, settings)
    op.output("store_dead_letters", rejected, PostgresSink(db, store_dead_letters, "dead letters"))
    return flow

