"""Run-to-failure datasets as typed arrays: NASA C-MAPSS files and the plant simulator's offline histories.

Both become :class:`Histories`: one row per sample of a unit (an engine, a machine run from new to failure),
its signals, its operating-condition key and, where known, the remaining useful life (RUL). A
:class:`DatasetKind` says how a dataset is modelled: which signals, which are vibration, window length,
RUL unit and cap, the failure horizon.

C-MAPSS (``train_FDxxx.txt``, ``test_FDxxx.txt`` + ``RUL_FDxxx.txt``): 26 space-separated columns — unit,
cycle, three operational settings, 21 sensors; RUL in cycles. The operating condition is the settings
rounded to the six flight regimes. Plant (``millstream simulate plant --offline``, CSV or JSON lines): the four
machine signals sampled every ``sample_s`` running seconds, the machine ``kind`` as operating condition (lathe
when the file has none), RUL in hours.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

from millstream.errors import MillstreamError

__all__ = ["CMAPSS", "DATASETS", "PLANT", "DatasetError", "DatasetKind", "Histories", "data_hash", "load_cmapss",
           "load_cmapss_test", "load_histories", "load_plant"]

CMAPSS_SENSORS = tuple(f"s{i}" for i in range(1, 22))
PLANT_SIGNALS = ("spindle_temperature", "vibration_rms", "motor_current", "spindle_speed")


class DatasetError(MillstreamError):
    """A dataset file is missing, empty or not in the expected format (the message says which line)."""


@dataclass(frozen=True)
class DatasetKind:
    """How one kind of run-to-failure data is modelled."""

    name: str
    signals: tuple[str, ...]
    vibration: tuple[str, ...]
    context: tuple[str, ...]
    window: int
    rul_unit: str
    rul_cap: float
    horizon: float
    healthy_rul: float


CMAPSS = DatasetKind("cmapss", CMAPSS_SENSORS, (), ("cycle",), window=30, rul_unit="cycles", rul_cap=125.0,
                     horizon=30.0, healthy_rul=125.0)
PLANT = DatasetKind("plant", PLANT_SIGNALS, ("vibration_rms",), (), window=30, rul_unit="hours", rul_cap=3.0,
                    horizon=0.75, healthy_rul=3.0)
DATASETS = {k.name: k for k in (CMAPSS, PLANT)}


@dataclass
class Histories:
    """Samples of many units, in unit then time order.

    ``units`` (n,) unit keys; ``time`` (n,) cycle (C-MAPSS) or running hours (plant); ``conditions`` (n,)
    operating-condition keys; ``signals`` (n, len(kind.signals)); ``rul`` (n,) true RUL in ``kind.rul_unit``
    (NaN when unknown); ``degrading`` (n,) ground truth where the data has it.
    """

    kind: DatasetKind
    units: np.ndarray
    time: np.ndarray
    conditions: np.ndarray
    settings: np.ndarray
    signals: np.ndarray
    rul: np.ndarray
    degrading: np.ndarray | None = None

    def unit_slices(self) -> list[tuple[str, slice]]:
        """``(unit, slice of its rows)`` in order; rows of a unit are contiguous."""
        keys = self.units
        change = np.flatnonzero(keys[1:] != keys[:-1]) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(keys)]])
        return [(str(keys[s]), slice(int(s), int(e))) for s, e in zip(starts, ends, strict=True)]

    def subset(self, rows: np.ndarray) -> Histories:
        return Histories(self.kind, self.units[rows], self.time[rows], self.conditions[rows], self.settings[rows],
                         self.signals[rows], self.rul[rows],
                         None if self.degrading is None else self.degrading[rows])


def data_hash(*paths: str | Path) -> str:
    """SHA-256 of the files' bytes (the training-data fingerprint kept in a model's metadata)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def _cmapss_matrix(path: Path) -> np.ndarray:
    if not path.is_file():
        msg = f"{path}: no such file"
        raise DatasetError(msg)
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 26:
            msg = f"{path}:{number}: expected 26 space-separated columns (unit, cycle, 3 settings, 21 sensors), " \
                  f"got {len(parts)}"
            raise DatasetError(msg)
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            msg = f"{path}:{number}: not a number in {line.strip()[:60]!r}"
            raise DatasetError(msg) from None
    if not rows:
        msg = f"{path}: no samples"
        raise DatasetError(msg)
    return np.asarray(rows)


def cmapss_condition(settings: np.ndarray) -> np.ndarray:
    """The flight regime of each row: altitude, Mach and throttle rounded (one regime in FD001/FD003)."""
    s = np.asarray(settings)
    # + 0.0 turns the -0.0 of a setting jittering just below zero into 0.0: one regime, not "-0" and "0"
    return np.array([f"{a:.0f}|{m:.1f}|{t:.0f}" for a, m, t in zip(np.round(s[:, 0]) + 0.0,
                                                                    np.round(s[:, 1], 1) + 0.0,
                                                                    np.round(s[:, 2]) + 0.0, strict=True)])


def _cmapss_histories(m: np.ndarray, rul_end: dict[int, float] | None) -> Histories:
    units = m[:, 0].astype(int)
    cycles = m[:, 1]
    rul = np.full(len(m), np.nan)
    for unit in np.unique(units):
        rows = units == unit
        end = cycles[rows].max()
        extra = 0.0 if rul_end is None else rul_end.get(int(unit), np.nan)
        rul[rows] = end - cycles[rows] + extra
    order = np.lexsort((cycles, units))
    m, units, cycles, rul = m[order], units[order], cycles[order], rul[order]
    settings = m[:, 2:5]
    return Histories(CMAPSS, units.astype(str), cycles, cmapss_condition(settings), settings, m[:, 5:26], rul)


def load_cmapss(path: str | Path) -> Histories:
    """A C-MAPSS training file: every unit runs to failure, RUL = last cycle - cycle."""
    return _cmapss_histories(_cmapss_matrix(Path(path)), None)


def load_cmapss_test(test: str | Path, rul: str | Path) -> Histories:
    """A C-MAPSS test file and its RUL file (one RUL per unit, in unit order): RUL known at every cycle."""
    m = _cmapss_matrix(Path(test))
    rul_path = Path(rul)
    if not rul_path.is_file():
        msg = f"{rul_path}: no such file"
        raise DatasetError(msg)
    try:
        values = [float(line.split()[0]) for line in rul_path.read_text().splitlines() if line.strip()]
    except ValueError:
        msg = f"{rul_path}: every line must be one number (the RUL of the unit at its last cycle)"
        raise DatasetError(msg) from None
    units = sorted({int(u) for u in m[:, 0]})
    if len(values) != len(units):
        msg = f"{rul_path} has {len(values)} RUL values but {test} has {len(units)} units"
        raise DatasetError(msg)
    return _cmapss_histories(m, dict(zip(units, values, strict=True)))


def _plant_records(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        msg = f"{path}: no such file"
        raise DatasetError(msg)
    with path.open() as file:
        if path.suffix == ".csv":
            return list(csv.DictReader(file))
        records = []
        for number, line in enumerate(file, start=1):
            if line.strip():
                try:
                    records.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    msg = f"{path}:{number}: not a JSON object"
                    raise DatasetError(msg) from None
        return records


def load_plant(path: str | Path) -> Histories:
    """Offline run-to-failure histories of the plant simulator (CSV or JSON lines)."""
    path = Path(path)
    records = _plant_records(path)
    if not records:
        msg = f"{path}: no samples"
        raise DatasetError(msg)
    try:
        kinds = np.array([str(r.get("kind") or "lathe") for r in records])
        units = np.array([f"{k}-{r['unit']}" for k, r in zip(kinds, records, strict=True)])
        time_h = np.array([float(r["time_s"]) for r in records]) / 3600.0  # type: ignore[arg-type]
        signals = np.array([[float(r[s]) for s in PLANT_SIGNALS] for r in records])  # type: ignore[arg-type]
        rul = np.array([float(r["rul_s"]) for r in records]) / 3600.0  # type: ignore[arg-type]
        degrading = np.array([str(r["degrading"]).lower() in {"true", "1"} for r in records])
    except (KeyError, ValueError, TypeError) as exc:
        msg = f"{path}: not a plant run-to-failure history (simulate plant --offline): missing or bad {exc}"
        raise DatasetError(msg) from None
    return Histories(PLANT, units, time_h, kinds, np.zeros((len(records), 0)), signals, rul, degrading)


def load_histories(dataset: str, path: str | Path) -> Histories:
    """Training histories of ``dataset`` (``cmapss`` or ``plant``)."""
    if dataset == "cmapss":
        return load_cmapss(path)
    if dataset == "plant":
        return load_plant(path)
    msg = f"unknown dataset {dataset!r}: use cmapss or plant"
    raise DatasetError(msg)
