"""Maintenance dataflow: readings -> per-machine windows -> micro-batched scores -> alerts -> ERP notifications.

``telemetry.readings`` is read with edge validation (malformed messages become dead letters on ``dlq`` and in
``dead_letters``, with the reason). Per machine, readings are sampled into event-time windows with a watermark
(:mod:`millstream.maintenance.windows`; unusable values are left out and counted). Due windows of all machines are
collected into micro-batches and scored with one vectorised predict per batch by the promoted model
(:mod:`models.scoring`, reloaded on promotion). Scores (health 0-100, RUL with interval, failure
risk, top contributing features) are stored in ``maintenance_scores``. The failure risk feeds the shared alert
lifecycle (:mod:`streams.alerting`: hysteresis, minimum duration); when an alert opens or escalates, a
``production.maintenance_notification`` record goes to the ERP outbox with the machine, its ERP keys, the RUL
and the evidence.

Every id is stable (score: machine + event time; alert: its episode; ERP record: alert + severity), and every
sink is idempotent, so a restart — re-reading the topic, or resuming from a recovery snapshot — adds no
duplicate alert or ERP record. Run it with ``millstream maintenance``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.operators import StatefulLogic

from connectors.erp.sink import OutboxSink
from connectors.kafka.topics import TELEMETRY_READINGS
from connectors.postgres.database import connect
from connectors.postgres.maintenance import store_scores
from connectors.postgres.masterdata_reader import read_scenario
from connectors.postgres.sink import PostgresSink
from connectors.postgres.timeseries import store_dead_letters
from millstream.events import SensorReading
from millstream.maintenance.records import notifier
from millstream.maintenance.rules import alert_rule, risk_condition
from millstream.maintenance.windows import MachineWindows, WindowRequest
from millstream.masterdata import Scenario
from millstream.settings import Settings
from models.artifact import Registry
from models.datasets import DATASETS
from models.scoring import ModelHolder, score_batch
from streams.alerting import raise_alerts, write_alerts
from streams.kafka_io import DlqPublisher, read_events, write_dead_letters

__all__ = ["WindowsLogic", "build_flow"]

class WindowsLogic(StatefulLogic[SensorReading, WindowRequest, MachineWindows | None]):
    """Bytewax wrapper of :class:`MachineWindows` (made on a machine's first reading; flushed at end of input)."""

    def __init__(self, factory: Callable[[str], MachineWindows], state: MachineWindows | None) -> None:
        self.factory = factory
        self.state = state

    def on_item(self, value: SensorReading) -> tuple[list[WindowRequest], bool]:
        if self.state is None:
            self.state = self.factory(value.machine_id)
        return self.state.on_reading(value), StatefulLogic.RETAIN

    def on_eof(self) -> tuple[list[WindowRequest], bool]:
        return ([] if self.state is None else self.state.flush()), StatefulLogic.RETAIN

    def snapshot(self) -> MachineWindows | None:
        return self.state


def build_flow(settings: Settings, *, follow: bool = True, scenario: Scenario | None = None,
               holder: ModelHolder | None = None) -> Dataflow:
    """The maintenance dataflow; with ``follow=False`` it stops at the end of each topic partition.

    ``scenario`` (default: the master data in the database) gives each machine's kind (its operating
    condition) and ERP keys.
    """
    ms = settings.maintenance
    if scenario is None:
        with connect(settings.database) as conn:
            scenario = read_scenario(conn)
    kind = DATASETS[ms.dataset]
    holder = holder or ModelHolder(Registry(ms.model_registry), ms.dataset)
    kinds = {m.id: m.kind for m in scenario.machines}
    bucket_s = 60.0

    def new_machine(machine_id: str) -> MachineWindows:
        return MachineWindows(machine_id, kinds.get(machine_id, "unknown"), kind.signals, bucket_s, kind.window,
                              ms.allowed_lateness_s, ms.score_every_s)

    flow = Dataflow("maintenance")
    readings = read_events("maintenance_readings", flow, TELEMETRY_READINGS, settings, model=SensorReading,
                           tail=follow)
    write_dead_letters("dlq", readings.errs, settings)
    op.output("store_dead_letters", readings.errs, PostgresSink(settings.database, store_dead_letters,
                                                                "dead letters"))
    keyed = op.key_on("by_machine", readings.oks, lambda r: r.machine_id)
    windows = op.stateful("windows", keyed, lambda resume: WindowsLogic(new_machine, resume))
    batched = op.collect("batch", op.key_on("all", op.map("unkey_windows", windows, lambda kv: kv[1]),
                                            lambda _r: "all"),
                         timeout=timedelta(milliseconds=200), max_size=ms.max_batch)
    scores = op.flat_map("score", batched, lambda kv: score_batch(holder, kv[1], kind.signals))
    op.output("store_scores", scores, PostgresSink(settings.database, store_scores, "maintenance scores",
                                                   publish=DlqPublisher(settings)))
    alerts = raise_alerts("alerts", op.map("conditions", scores, risk_condition), alert_rule(ms))
    write_alerts("write_alerts", alerts, settings)
    by_machine = op.key_on("alerts_by_machine", alerts, lambda a: a.subject_id)
    notices = op.stateful_flat_map("notify", by_machine, notifier(scenario))
    op.output("erp", op.map("unkey_notices", notices, lambda kv: kv[1]), OutboxSink(settings.database))
    return flow

