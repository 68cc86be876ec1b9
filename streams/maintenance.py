"""Maintenance dataflow: readings -> per-machine windows -> micro-batched scores -> alerts -> ERP notifications.

``telemetry.readings`` is read with edge validation (malformed messages become dead letters on ``dlq`` and in
``dead_letters``, with the reason). Per machine, readings are sampled into event-time windows with a watermark
(:mod:`streams.machine_windows`; unusable values are left out and counted). Due windows of all machines are
collected into micro-batches and scored with one vectorised predict per batch by the promoted model
(:mod:`streams.maintenance_scoring`, reloaded on promotion). Scores (health 0-100, RUL with interval, failure
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
from typing import Any

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
from millstream.events.alerts import ALERT_SEVERITIES, Alert
from millstream.events.erp import ErpKeys, ErpRecord
from millstream.events.maintenance import MaintenanceScore
from millstream.masterdata import Scenario
from millstream.settings import Settings
from models.artifact import Registry
from models.datasets import DATASETS
from models.evaluation import alert_rule
from streams.alerting import Condition, raise_alerts, write_alerts
from streams.kafka_io import DlqPublisher, read_events, write_dead_letters
from streams.machine_windows import MachineWindows, WindowRequest
from streams.maintenance_scoring import ModelHolder, score_batch

__all__ = ["WindowsLogic", "build_flow", "notification_for"]

_NOTIFY = "production.maintenance_notification"


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


def _condition(score: MaintenanceScore) -> Condition:
    evidence = {"health": score.health, "rul": score.rul, "rul_low": score.rul_low, "rul_high": score.rul_high,
                "rul_unit": score.rul_unit, "horizon": score.horizon, "model_id": score.model_id,
                "confidence": score.confidence, "anomaly": score.anomaly, "top_features": list(score.top_features)}
    return Condition("machine", score.machine_id, score.p_fail, score.at, evidence, (score.id,))


def notification_for(alert: Alert, scenario: Scenario) -> ErpRecord:
    """The ERP maintenance notification of an alert that opened or escalated."""
    machine = next((m for m in scenario.machines if m.id == alert.subject_id), None)
    keys = ErpKeys(machine=alert.subject_id, site=machine.site_id if machine else None,
                   location=machine.location_id if machine else None)
    ev = alert.evidence
    payload = {"alert_id": alert.id, "severity": alert.severity, "opened_at": alert.opened_at.isoformat(),
               "failure_probability": ev.get("value"), "rul": ev.get("rul"), "rul_low": ev.get("rul_low"),
               "rul_high": ev.get("rul_high"), "rul_unit": ev.get("rul_unit"), "horizon": ev.get("horizon"),
               "health": ev.get("health"), "model_id": ev.get("model_id"), "evidence": ev.get("top_features", []),
               "machine_name": machine.name if machine else None}
    return ErpRecord(subject_kind="machine", subject_id=alert.subject_id, occurred_at=alert.occurred_at,
                     record_type=_NOTIFY, record_key=f"maintenance/{alert.subject_id}/{alert.id}", erp_keys=keys,
                     payload=payload, evidence_ids=alert.evidence_ids[-5:])


def _notify(scenario: Scenario) -> Any:
    """Per machine: an ERP record when an alert opens (a new episode) or becomes more severe."""

    def step(notified: dict[str, str] | None, alert: Alert) -> tuple[dict[str, str] | None, list[ErpRecord]]:
        notified = notified or {}
        if not alert.active:
            return notified, []
        previous = notified.get(alert.id)
        if previous is not None and ALERT_SEVERITIES.index(alert.severity) >= ALERT_SEVERITIES.index(previous):
            return notified, []
        notified = {alert.id: alert.severity}
        return notified, [notification_for(alert, scenario)]

    return step


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
    alerts = raise_alerts("alerts", op.map("conditions", scores, _condition), alert_rule(ms))
    write_alerts("write_alerts", alerts, settings)
    by_machine = op.key_on("alerts_by_machine", alerts, lambda a: a.subject_id)
    notices = op.stateful_flat_map("notify", by_machine, _notify(scenario))
    op.output("erp", op.map("unkey_notices", notices, lambda kv: kv[1]), OutboxSink(settings.database))
    return flow

