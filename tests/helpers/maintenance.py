"""Maintenance test helpers: run-to-failure histories and their readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from millstream.events import SensorReading
from simulators.plant.offline import HistoryRow, run_to_failure


def history(seed: int, kind: str = "lathe") -> list[HistoryRow]:
    """One machine run from new to failure (the ground truth for a replay)."""
    return list(run_to_failure(1, seed=seed, kind=kind))


def start_for(rows: list[HistoryRow]) -> datetime:
    """A start time such that the history ends a minute ago, half-way into a minute (mid-bucket samples)."""
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    return now - timedelta(seconds=rows[-1].time_s + 60)


TAGS = ("spindle_temperature", "vibration_rms", "motor_current", "spindle_speed")


def readings_of(machine_id: str, rows: list[HistoryRow]) -> list[SensorReading]:
    start = start_for(rows)
    out = [SensorReading(machine_id=machine_id, tag="state", value="running", source_timestamp=start)]
    for row in rows:
        at = start + timedelta(seconds=row.time_s)
        out += [SensorReading(machine_id=machine_id, tag=tag, value=getattr(row, tag), source_timestamp=at)
                for tag in TAGS]
    return out
