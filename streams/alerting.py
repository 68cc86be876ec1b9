"""The alert lifecycle in a dataflow: :func:`raise_alerts` runs :class:`~millstream.alert_lifecycle.AlertLifecycle`
per subject (keyed by subject, so it scales by subjects), :func:`write_alerts` upserts the alerts into
PostgreSQL (:mod:`connectors.postgres.alerts`) and publishes them to the ``alerts`` topic keyed by subject.

The rules themselves (hysteresis, minimum duration, dedup, flap suppression) are in
:mod:`millstream.alert_lifecycle`.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Stream, operator

from connectors.kafka.topics import ALERTS
from connectors.postgres.alerts import upsert_alerts
from connectors.postgres.sink import PostgresSink
from millstream.alert_lifecycle import AlertLifecycle, AlertRule, Condition
from millstream.events.alerts import Alert
from millstream.settings import DatabaseSettings, Settings
from streams.kafka_io import write_events

__all__ = ["AlertStoreSink", "raise_alerts", "write_alerts"]


@operator
def raise_alerts(step_id: str, up: Stream[Condition], rule: AlertRule) -> Stream[Alert]:
    """Turn condition samples into alert changes (see the module docstring), keyed by subject."""
    keyed = op.key_on("by_subject", up, lambda sample: sample.subject)
    changes = op.stateful_flat_map("lifecycle", keyed, AlertLifecycle(rule))
    return op.map("unkey", changes, lambda key_alert: key_alert[1])


class AlertStoreSink(PostgresSink[Alert]):
    """Upserts alerts into PostgreSQL (idempotent: replays merge into the same rows)."""

    def __init__(self, database: DatabaseSettings) -> None:
        super().__init__(database, upsert_alerts, "alerts")


@operator
def write_alerts(step_id: str, alerts: Stream[Alert], settings: Settings) -> None:
    """Store alerts in PostgreSQL and publish them to the ``alerts`` topic (key: ``<kind>:<id>``)."""
    op.output("store", alerts, AlertStoreSink(settings.database))
    write_events("publish", alerts, ALERTS, settings)
