"""Prometheus metrics shared across stages, declared once (names are the operators' vocabulary)."""

from __future__ import annotations

from prometheus_client import Counter

__all__ = ["DEAD_LETTERS", "EVENTS_ACCEPTED", "PRODUCED_PARTS", "RFID_READS_DROPPED", "STOCK_MOVEMENTS"]

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
