"""Prometheus metrics shared across stages, declared once (names are the operators' vocabulary)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["DEAD_LETTERS", "EVENTS_ACCEPTED", "MAINTENANCE_READINGS_EXCLUDED", "MAINTENANCE_SCORES",
           "MAINTENANCE_UNSCORED"]

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
