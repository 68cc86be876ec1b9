"""Prometheus metrics shared across stages, declared once (names are the operators' vocabulary).

Every dataflow process serves them on ``/metrics`` (``--metrics-port``, see :func:`serve_metrics`); the API
serves its own on ``/metrics``. ``stage`` is the flow's step (``readings``, ``pings``, ``rfid``, ...).
``millstream up`` sets ``PROMETHEUS_MULTIPROC_DIR`` for every process of the run, so the API's ``/metrics``
shows the whole run (:func:`run_registry`).
"""

from __future__ import annotations

import logging
import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

__all__ = ["ALERT_STREAMS", "ALERT_STREAM_EVENTS",
           "CONSUMER_LAG", "DEAD_LETTERS", "EVENTS_ACCEPTED", "EVENTS_IN", "EVENTS_OUT", "LOGISTICS_PINGS",
           "LOGISTICS_PINGS_BUFFERED",
           "MAINTENANCE_READINGS_EXCLUDED", "MAINTENANCE_SCORES", "MAINTENANCE_UNSCORED", "PROCESSING_LATENCY",
           "PRODUCED_PARTS", "RFID_READS_DROPPED", "SINK_RETRIES", "STOCK_MOVEMENTS",
           "WEBHOOK_ATTEMPTS", "WEBHOOK_LATENCY", "counter_total", "run_registry", "serve_metrics"]

logger = logging.getLogger(__name__)

DEAD_LETTERS = Counter(
    "millstream_dead_letters_total",
    "Inputs rejected to the dead-letter topic, by stage and error type.",
    ["stage", "error_type"],
)

EVENTS_ACCEPTED = Counter(
    "millstream_events_accepted_total",
    "Inputs validated at the edge and passed on, by stage.",
    ["stage"],
)

EVENTS_IN = Counter(
    "millstream_events_in_total",
    "Records a flow consumed from Kafka, by stage.",
    ["stage"],
)

EVENTS_OUT = Counter(
    "millstream_events_out_total",
    "Items a flow wrote to its sink (a table or a topic), by stage; repeats dropped by id count too.",
    ["stage"],
)

CONSUMER_LAG = Gauge(
    "millstream_consumer_lag_records",
    "Records between a flow's position and the end of a Kafka partition.",
    ["stage", "topic", "partition"],
    multiprocess_mode="livemax",
)

PROCESSING_LATENCY = Histogram(
    "millstream_processing_latency_seconds",
    "Wall-clock seconds from a record's Kafka timestamp to its validation, by stage (simulated seconds are "
    "divided by the run's speed).",
    ["stage"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

WEBHOOK_ATTEMPTS = Counter(
    "millstream_webhook_attempts_total", "Webhook delivery attempts by outcome.", ["outcome"])

WEBHOOK_LATENCY = Histogram(
    "millstream_webhook_latency_seconds",
    "Webhook request latency (connect if needed, send, read the answer's start; no queueing).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15))

STOCK_MOVEMENTS = Counter(
    "millstream_stock_movements_total",
    "Stock movements the inventory pipeline derived (before the ledger's idempotent apply), by movement type.",
    ["movement_type"],
)

RFID_READS_DROPPED = Counter(
    "millstream_rfid_reads_dropped_total",
    "RFID reads that made no gate pass: duplicate (same tag and reader), stray (neighbouring door) or late.",
    ["reason"],
)

PRODUCED_PARTS = Counter(
    "millstream_produced_parts_total",
    "Parts counted from machine part counters (after resets and rollovers), by machine and quality.",
    ["machine_id", "quality"],
)


def serve_metrics(port: int | None) -> None:
    """Serve this process's metrics on ``http://127.0.0.1:port/metrics`` (in a thread); ``None``: don't."""
    if port is None:
        return
    start_http_server(port, addr="127.0.0.1")
    logger.info("metrics on http://127.0.0.1:%d/metrics", port)


def counter_total(counter: Counter, **labels: str) -> float:
    """The sum of ``counter`` over the label sets matching ``labels`` (for status lines)."""
    total = 0.0
    for metric in counter.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def run_registry() -> CollectorRegistry:
    """The metrics of every process of the run when ``PROMETHEUS_MULTIPROC_DIR`` is set, else this process's."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


SINK_RETRIES = Counter(
    "millstream_sink_retries_total",
    "Sink writes retried after a transient database failure (connection lost, database restarting), by step.",
    ["step"],
)

ALERT_STREAMS = Gauge(
    "millstream_alert_streams",
    "Live alert feeds (GET /api/v1/alerts/stream) open now.",
    multiprocess_mode="livesum",
)

ALERT_STREAM_EVENTS = Counter(
    "millstream_alert_stream_events_total",
    "Events sent on live alert feeds, by kind (snapshot, alert, keepalive).",
    ["kind"],
)

MAINTENANCE_READINGS_EXCLUDED = Counter(
    "millstream_maintenance_readings_excluded_total",
    "Readings left out of maintenance features, by reason (bad_quality, not_numeric, out_of_range, late).",
    ["reason"],
)

MAINTENANCE_SCORES = Counter(
    "millstream_maintenance_scores_total",
    "Machine health scores computed, by model id.",
    ["model_id"],
)

MAINTENANCE_UNSCORED = Counter(
    "millstream_maintenance_unscored_windows_total",
    "Windows not scored, by reason (no_model).",
    ["reason"],
)

LOGISTICS_PINGS = Counter(
    "millstream_logistics_pings_total",
    "GPS pings in the logistics flow: received, and the outcome of each: kept in the track as ok, outlier or "
    "late, or rejected (unknown truck, no shipment: a dead letter). received = ok + outlier + late + rejected "
    "+ millstream_logistics_pings_buffered.",
    ["quality"],
)

LOGISTICS_PINGS_BUFFERED = Gauge(
    "millstream_logistics_pings_buffered",
    "GPS pings received by the logistics flow and still waiting in a truck's reorder buffer (event-time order) "
    "for their outcome.",
    multiprocess_mode="livesum",
)
