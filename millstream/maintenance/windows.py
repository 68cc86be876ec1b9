"""Per-machine event-time windows of sensor readings, with a watermark for late data.

Readings of one machine are sampled into buckets of ``bucket_s`` seconds of event time (the source
timestamp): a bucket's sample is the last good value of each signal within it — the way the offline
histories the models learn from are sampled. A bucket closes when the machine's watermark (its newest
reading's time minus ``lateness_s``) passes the bucket's end; a reading for a closed bucket is late, left out
and counted. Closed samples of a running machine go into a :class:`WindowBuffer`, from the first bucket
that holds a signal value (a bucket with only the machine's state — the plant published its state before the
bridge saw any signal — is no sample with every signal missing); after a repair (state ``maintenance`` ->
``running``) the window starts afresh and the running time since the last
maintenance counts from there. Readings that cannot be features — bad or uncertain OPC-UA quality, not a
number, NaN/inf, outside the physically plausible range — are left out and counted by reason; a signal with
no usable value in a bucket is NaN in the window (the score's confidence drops).

:class:`MachineWindows` is plain Python (pickled into the flow's recovery snapshots); it emits a
:class:`WindowRequest` whenever a window is due for scoring.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from millstream.events import SensorReading
from millstream.metrics import MAINTENANCE_READINGS_EXCLUDED

__all__ = ["PLAUSIBLE_RANGES", "MachineWindows", "WindowBuffer", "WindowRequest", "exclusion_reason"]

#: Physically plausible values per signal; anything outside is a sensor fault, not wear.
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {
    "spindle_temperature": (-50.0, 300.0),
    "vibration_rms": (0.0, 200.0),
    "motor_current": (0.0, 1000.0),
    "spindle_speed": (0.0, 100_000.0),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class WindowBuffer:
    """The trailing window of one machine, fed one sample at a time (streaming)."""

    length: int
    n_signals: int
    baseline_length: int = 0
    _rows: deque[np.ndarray] = field(default_factory=deque)
    _seen: int = 0
    _base_sum: np.ndarray | None = None
    _base_count: np.ndarray | None = None

    def push(self, sample: Sequence[float]) -> None:
        row = np.asarray(sample, dtype=np.float64)
        if row.shape != (self.n_signals,):
            msg = f"sample has {row.shape} values, the window has {self.n_signals} signals"
            raise ValueError(msg)
        self._rows.append(row)
        while len(self._rows) > self.length:
            self._rows.popleft()
        if self._seen < self.baseline_length:
            valid = ~np.isnan(row)
            if self._base_sum is None or self._base_count is None:
                self._base_sum, self._base_count = np.zeros(self.n_signals), np.zeros(self.n_signals)
            self._base_sum += np.where(valid, row, 0.0)
            self._base_count += valid
        self._seen += 1

    def clear(self) -> None:
        """Forget everything (after a maintenance: the machine is as new)."""
        self._rows.clear()
        self._seen = 0
        self._base_sum = self._base_count = None

    @property
    def samples_seen(self) -> int:
        return self._seen

    def baseline(self) -> np.ndarray:
        """The mean of the valid values among the first ``baseline_length`` samples (NaN where none)."""
        if self._base_sum is None or self._base_count is None:
            return np.full(self.n_signals, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self._base_count > 0, self._base_sum / np.maximum(self._base_count, 1), np.nan)

    def __len__(self) -> int:
        return len(self._rows)

    def window(self) -> np.ndarray:
        """``(length, signals)``, NaN-padded in front while fewer samples have arrived."""
        out = np.full((self.length, self.n_signals), np.nan)
        if self._rows:
            out[self.length - len(self._rows):] = np.stack(self._rows)
        return out


@dataclass(frozen=True)
class WindowRequest:
    """A machine's window, due for scoring at event time ``at`` (raw values, NaN = left out)."""

    machine_id: str
    condition: str
    at: datetime
    values: np.ndarray
    baseline: np.ndarray
    running_hours: float | None
    samples: int
    valid_share: float
    missing: tuple[str, ...]


def exclusion_reason(reading: SensorReading) -> str | None:
    """Why a reading cannot be a feature value, or None when it can."""
    if reading.quality != "good":
        return "bad_quality"
    value = reading.value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "not_numeric"
    if not math.isfinite(value):
        return "not_finite"
    low, high = PLAUSIBLE_RANGES.get(reading.tag, (-math.inf, math.inf))
    if not low <= value <= high:
        return "out_of_range"
    return None


@dataclass
class MachineWindows:
    """The windowing state of one machine (see the module docstring)."""

    machine_id: str
    condition: str
    signals: tuple[str, ...]
    bucket_s: float
    length: int
    lateness_s: float
    score_every_s: float
    min_samples: int = 5
    baseline_length: int = 0
    buckets: dict[int, dict[str, tuple[datetime, float | str]]] = field(default_factory=dict)
    closed_through: int | None = None
    newest: datetime | None = None
    state: str | None = None
    running_since: datetime | None = None
    last_scored: datetime | None = None
    buffer: WindowBuffer | None = None

    def __post_init__(self) -> None:
        if self.buffer is None:
            self.buffer = WindowBuffer(self.length, len(self.signals), self.baseline_length)

    def _bucket(self, at: datetime) -> int:
        return math.floor((at - _EPOCH).total_seconds() / self.bucket_s)

    def _end(self, bucket: int) -> datetime:
        return _EPOCH + timedelta(seconds=(bucket + 1) * self.bucket_s)

    def on_reading(self, reading: SensorReading) -> list[WindowRequest]:
        """Take one reading; the windows that became due (after buckets the watermark closed)."""
        if reading.tag != "state" and reading.tag not in self.signals:
            return []
        at = reading.source_timestamp
        bucket = self._bucket(at)
        if self.closed_through is not None and bucket <= self.closed_through:
            MAINTENANCE_READINGS_EXCLUDED.labels("late").inc()
            return []
        if reading.tag == "state":
            if reading.quality == "good" and isinstance(reading.value, str):
                self._keep(bucket, "state", at, reading.value)
        else:
            reason = exclusion_reason(reading)
            if reason is not None:
                MAINTENANCE_READINGS_EXCLUDED.labels(reason).inc()
            else:
                self._keep(bucket, reading.tag, at, float(reading.value))  # type: ignore[arg-type]
        if self.newest is None or at > self.newest:
            self.newest = at
        watermark = self.newest - timedelta(seconds=self.lateness_s)
        return self._close(lambda b: self._end(b) <= watermark)

    def flush(self) -> list[WindowRequest]:
        """Close every open bucket (end of input)."""
        return self._close(lambda _b: True)

    def _keep(self, bucket: int, tag: str, at: datetime, value: float | str) -> None:
        slot = self.buckets.setdefault(bucket, {})
        if tag not in slot or slot[tag][0] <= at:
            slot[tag] = (at, value)

    def _close(self, due: object) -> list[WindowRequest]:
        out = []
        for bucket in sorted(b for b in self.buckets if due(b)):  # type: ignore[operator]
            request = self._close_one(bucket, self.buckets.pop(bucket))
            self.closed_through = bucket
            if request is not None:
                out.append(request)
        return out

    def _close_one(self, bucket: int, slot: dict[str, tuple[datetime, float | str]]) -> WindowRequest | None:
        assert self.buffer is not None
        end = self._end(bucket)
        if "state" in slot:
            new_state = str(slot["state"][1])
            if new_state == "running" and self.state in {"maintenance", "down"}:
                self.buffer.clear()  # repaired: as new
                self.running_since = end - timedelta(seconds=self.bucket_s)
                self.last_scored = None
            self.state = new_state
        if self.state not in (None, "running"):
            return None
        row = [float(slot[s][1]) if s in slot else math.nan for s in self.signals]
        if len(self.buffer) == 0 and all(math.isnan(v) for v in row):
            return None  # nothing measured yet (a bucket with only the state): not a sample with every signal missing
        self.buffer.push(row)
        if len(self.buffer) < self.min_samples:
            return None
        if self.last_scored is not None and (end - self.last_scored).total_seconds() < self.score_every_s:
            return None
        self.last_scored = end
        window = self.buffer.window()
        filled = window[-len(self.buffer):]
        valid = ~np.isnan(filled)
        missing = tuple(s for i, s in enumerate(self.signals) if not valid[:, i].any())
        hours = None if self.running_since is None else (end - self.running_since).total_seconds() / 3600.0
        return WindowRequest(self.machine_id, self.condition, end, window, self.buffer.baseline(), hours,
                             self.buffer.samples_seen, float(valid.mean()), missing)
