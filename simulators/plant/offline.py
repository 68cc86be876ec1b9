"""Run-to-failure histories for model training: many machines worn down fast, with the plant's physics.

Each unit is a fresh machine of one kind running continuously from new until its health crosses the failure
threshold, sampled every ``sample_s`` simulated seconds — no OPC UA, no wall clock. Every (seed, kind, unit)
has its own random stream: units of different kinds are independent machines. Rows carry the unit, the
sample index (cycle), the running time, the four signals, whether degradation has started (ground truth), the
remaining useful life in seconds (RUL, known once the unit has failed) and the machine kind. Written as CSV or
JSON lines.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from simulators.config import PlantParameters, SimulationError
from simulators.plant.physics import AMBIENT_C, Health, profile_for, signals

__all__ = ["HistoryRow", "run_to_failure", "write_histories"]

_MAX_RUNNING_S = 30 * 24 * 3600.0


@dataclass(frozen=True)
class HistoryRow:
    unit: int
    cycle: int
    time_s: float
    spindle_temperature: float
    vibration_rms: float
    motor_current: float
    spindle_speed: float
    degrading: bool
    health: float
    rul_s: float
    kind: str = "lathe"


def _unit_history(unit: int, seed: int, params: PlantParameters, kind: str, sample_s: float) -> list[HistoryRow]:
    # the kind is part of the seed: unit 1 of every kind used to share one wear history (one random stream),
    # so a unit-grouped CV over several kinds held out a unit whose twin it had trained on
    rng = random.Random(f"{seed}:offline:{kind}:{unit}")
    health = Health(rng, params)
    profile = profile_for(kind)
    temperature = AMBIENT_C
    raw: list[tuple[int, float, float, float, float, float, bool, float]] = []
    cycle = 0
    while not health.failed:
        if health.running_s > _MAX_RUNNING_S:
            msg = f"unit {unit} did not fail within 30 days of running; check simulation.plant wear parameters"
            raise SimulationError(msg)
        cycle += 1
        health.run(sample_s)
        sig = signals(rng, profile, health.degradation, True, temperature, sample_s, params.noise)
        temperature = sig.temperature_c
        raw.append((cycle, health.running_s, sig.temperature_c, sig.vibration_mm_s, sig.current_a,
                    sig.spindle_rpm, health.degrading, health.value))
    failed_at = health.running_s
    return [HistoryRow(unit, c, t, round(tc, 3), round(v, 4), round(a, 3), round(rpm, 1), deg, round(h, 5),
                       failed_at - t, kind) for c, t, tc, v, a, rpm, deg, h in raw]


def run_to_failure(units: int, seed: int = 0, params: PlantParameters | None = None, kind: str = "lathe",
                   sample_s: float = 60.0) -> Iterator[HistoryRow]:
    """The histories of ``units`` machines, unit after unit, each ending at its failure."""
    if units < 1:
        msg = f"units must be at least 1, got {units}"
        raise SimulationError(msg)
    if not sample_s > 0:
        msg = f"sample interval must be positive, got {sample_s}"
        raise SimulationError(msg)
    params = params or PlantParameters()
    for unit in range(1, units + 1):
        yield from _unit_history(unit, seed, params, kind, sample_s)


def write_histories(rows: Iterator[HistoryRow], out: str | Path) -> int:
    """Write rows as CSV (``.csv``) or JSON lines (anything else); returns the row count."""
    path = Path(out)
    count = 0
    with path.open("w", newline="") as file:
        if path.suffix == ".csv":
            writer = csv.DictWriter(file, fieldnames=list(HistoryRow.__dataclass_fields__))
            writer.writeheader()
            for row in rows:
                writer.writerow(asdict(row))
                count += 1
        else:
            for row in rows:
                file.write(orjson.dumps(asdict(row)).decode() + "\n")
                count += 1
    return count
