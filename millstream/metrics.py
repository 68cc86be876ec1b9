"""Prometheus metrics shared across stages, declared once (names are the operators' vocabulary)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = ["ALERT_STREAMS", "ALERT_STREAM_EVENTS", "DEAD_LETTERS", "EVENTS_ACCEPTED", "SINK_RETRIES"]

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
