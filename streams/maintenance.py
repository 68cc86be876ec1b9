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
duplicate alert or ERP record. A flow that starts without state while alerts it raised are still open in the
database (``millstream up`` restarted: its embedded broker is empty, so the flow starts afresh while the
machines wear on) continues them: a machine's first score after such an alert's last change updates, escalates
or clears that alert instead of opening a second one beside it (:class:`ContinuedLifecycle`). Run it with
``millstream maintenance``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream, operator
from bytewax.operators import StatefulLogic

from connectors.erp.sink import OutboxSink
from connectors.kafka.topics import TELEMETRY_READINGS
from connectors.postgres.alerts import list_alerts
from connectors.postgres.database import connect
from connectors.postgres.maintenance import store_scores
from connectors.postgres.masterdata_reader import read_scenario
from connectors.postgres.sink import PostgresSink
from connectors.postgres.timeseries import store_dead_letters
from millstream.alert_lifecycle import AlertLifecycle, AlertRule, Condition
from millstream.events import SensorReading
from millstream.events.alerts import Alert
from millstream.maintenance.records import notifier
from millstream.maintenance.rules import ALERT_TYPE, alert_rule, risk_condition
from millstream.maintenance.windows import MachineWindows, WindowRequest
from millstream.masterdata import Scenario
from millstream.settings import Settings
from models.artifact import Registry
from models.datasets import DATASETS
from models.scoring import ModelHolder, score_batch
from streams.alerting import write_alerts
from streams.kafka_io import DlqPublisher, read_events, write_dead_letters

__all__ = ["ContinuedLifecycle", "WindowsLogic", "build_flow", "open_alerts"]

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


def open_alerts(conn: Any) -> dict[str, Alert]:
    """The maintenance alerts that are still active (open or acknowledged), the newest per machine, by subject."""
    out: dict[str, Alert] = {}
    for alert in list_alerts(conn, domain="maintenance", state=("open", "acknowledged"), limit=10_000):
        if alert.alert_type == ALERT_TYPE:
            out.setdefault(alert.subject, alert)  # newest episode first
    return out


class ContinuedLifecycle:
    """The alert lifecycle of :func:`~millstream.alert_lifecycle.AlertLifecycle`, continuing ``active`` alerts.

    For a machine without lifecycle state whose first sample comes after the last change of an alert the
    store still has active, the state is rebuilt as the lifecycle would have left it when it opened that alert
    (same opening instant, hence the same alert id; its severity), and the sample goes on from there: it
    re-triggers, escalates or clears that alert. A sample at or before the alert's last change is a replay
    of what raised it and starts from no state, as before. Rebuilt states are made on first use only.
    """

    def __init__(self, rule: AlertRule, active: Mapping[str, Alert]) -> None:
        self.rule = rule
        self.lifecycle = AlertLifecycle(rule)
        self.active = dict(active)

    def _rebuilt(self, alert: Alert) -> Any:
        value = max([self.rule.raise_above] + [t for t, sev in self.rule.severities if sev == alert.severity])
        value = min(1.0, value + 1e-6) if value < 1.0 else value
        at = [alert.opened_at - self.rule.min_duration, alert.opened_at] if self.rule.min_duration else \
            [alert.opened_at]
        track = None
        for instant in at:
            track, _ = self.lifecycle(track, Condition(alert.subject_kind, alert.subject_id, value, instant))
        return track

    def __call__(self, track: Any, sample: Condition) -> tuple[Any, list[Alert]]:
        if track is None:
            alert = self.active.get(sample.subject)
            if alert is not None and sample.at > alert.occurred_at:
                track = self._rebuilt(alert)
        return self.lifecycle(track, sample)


@operator
def continue_alerts(step_id: str, up: Stream[Condition], rule: AlertRule,
                    active: Mapping[str, Alert]) -> Stream[Alert]:
    """:func:`streams.alerting.raise_alerts` (the same steps, so snapshots carry over) with the lifecycle of
    :class:`ContinuedLifecycle`."""
    keyed = op.key_on("by_subject", up, lambda sample: sample.subject)
    changes = op.stateful_flat_map("lifecycle", keyed, ContinuedLifecycle(rule, active))
    return op.map("unkey", changes, lambda key_alert: key_alert[1])


def build_flow(settings: Settings, *, follow: bool = True, scenario: Scenario | None = None,
               holder: ModelHolder | None = None) -> Dataflow:
    """The maintenance dataflow; with ``follow=False`` it stops at the end of each topic partition.

    ``scenario`` (default: the master data in the database) gives each machine's kind (its operating
    condition) and ERP keys. The active maintenance alerts are read from the database at build time
    (:class:`ContinuedLifecycle`).
    """
    ms = settings.maintenance
    with connect(settings.database) as conn:
        if scenario is None:
            scenario = read_scenario(conn)
        active = open_alerts(conn)
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
    alerts = continue_alerts("alerts", op.map("conditions", scores, risk_condition), alert_rule(ms), active)
    write_alerts("write_alerts", alerts, settings)
    by_machine = op.key_on("alerts_by_machine", alerts, lambda a: a.subject_id)
    notices = op.stateful_flat_map("notify", by_machine, notifier(scenario))
    op.output("erp", op.map("unkey_notices", notices, lambda kv: kv[1]), OutboxSink(settings.database))
    return flow

