"""Per-machine event-time windows: watermark, late data, unusable readings, repairs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from millstream.events import SensorReading
from millstream.events.base import WITHOUT_TIME_CHECK
from millstream.maintenance.windows import MachineWindows

T0 = datetime(2026, 3, 1, 8, 0, 30, tzinfo=UTC)
SIGNALS = ("spindle_temperature", "vibration_rms")


def _windows(**kw: object) -> MachineWindows:
    args = {"bucket_s": 60.0, "length": 10, "lateness_s": 60.0, "score_every_s": 60.0, "min_samples": 3} | kw
    return MachineWindows("CNC-01", "lathe", SIGNALS, **args)  # type: ignore[arg-type]


def _r(tag: str, value: object, minute: float, status: int = 0) -> SensorReading:
    data = {"machine_id": "CNC-01", "tag": tag, "value": value, "status_code": status,
            "source_timestamp": T0 + timedelta(minutes=minute)}
    return SensorReading.model_validate(data, context=WITHOUT_TIME_CHECK)


def _excluded(reason: str) -> float:
    return REGISTRY.get_sample_value("millstream_maintenance_readings_excluded_total", {"reason": reason}) or 0.0


def test_buckets_close_behind_the_watermark_and_late_readings_are_counted() -> None:
    w = _windows()
    out = []
    for minute in range(6):
        out += w.on_reading(_r("spindle_temperature", 40.0 + minute, minute))
        out += w.on_reading(_r("vibration_rms", 1.0, minute))
    # watermark = minute 5:30 - 60 s: buckets of minutes 0..3 are closed; the 3rd closed bucket is scorable
    assert [r.at for r in out] == [T0.replace(second=0) + timedelta(minutes=m) for m in (3, 4)]
    assert out[-1].values[-1, 0] == 43.0 and out[-1].samples == 4
    late_before = _excluded("late")
    assert w.on_reading(_r("spindle_temperature", 99.0, 1)) == []  # minute 1 is closed: late
    assert _excluded("late") == late_before + 1
    flushed = w.flush()
    assert [r.at.minute for r in flushed] == [5, 6]


def test_unusable_readings_are_left_out_and_lower_the_valid_share() -> None:
    w = _windows()
    before = {r: _excluded(r) for r in ("bad_quality", "not_numeric", "out_of_range")}
    for minute in range(4):
        w.on_reading(_r("spindle_temperature", 40.0, minute))
        w.on_reading(_r("vibration_rms", 1.0, minute))
    w.on_reading(_r("vibration_rms", None, 4, status=0x80000000))  # bad quality, no value
    w.on_reading(_r("vibration_rms", "inf", 4))
    w.on_reading(_r("vibration_rms", 1e9, 4))
    w.on_reading(_r("spindle_temperature", 41.0, 4))
    out = w.flush()
    last = out[-1]
    assert math.isnan(last.values[-1, 1]) and last.values[-1, 0] == 41.0
    assert last.valid_share < 1.0 and last.missing == ()
    assert {r: _excluded(r) - before[r] for r in before} == {"bad_quality": 1, "not_numeric": 1, "out_of_range": 1}


def test_a_repair_starts_a_fresh_window_and_stopped_machines_are_not_scored() -> None:
    w = _windows()
    for minute in range(5):
        w.on_reading(_r("spindle_temperature", 60.0, minute))
    w.on_reading(_r("state", "down", 5))
    w.on_reading(_r("spindle_temperature", 22.0, 5.5))
    w.on_reading(_r("state", "maintenance", 6))
    w.on_reading(_r("state", "running", 8))
    for minute in range(8, 12):
        w.on_reading(_r("spindle_temperature", 45.0, minute))
    out = w.flush()
    after_repair = [r for r in out if r.at > T0 + timedelta(minutes=8)]
    assert after_repair and all(r.samples <= 4 for r in after_repair)
    assert 22.0 not in after_repair[-1].values  # standstill samples are not in the window
    assert after_repair[-1].running_hours == 4 / 60


def test_a_bucket_with_only_the_state_before_any_signal_is_not_a_sample() -> None:
    # under `millstream up` the plant publishes its state when it starts; the bridge subscribes a little later
    # and the signals arrive from then on: the first bucket holds the state only
    w = _windows()
    out = w.on_reading(_r("state", "running", 0))
    for minute in range(2, 9):
        out += w.on_reading(_r("spindle_temperature", 40.0, minute))
        out += w.on_reading(_r("vibration_rms", 1.0, minute))
    assert out, "scored once three samples with signals are in"
    assert [r.samples for r in out] == list(range(3, 3 + len(out)))
    assert all(r.valid_share == 1.0 and r.missing == () for r in out), [(r.samples, r.valid_share) for r in out]


def test_a_gap_after_the_first_sample_still_lowers_the_valid_share() -> None:
    w = _windows()
    out = []
    for minute in (0, 1, 3, 4, 5, 6):  # nothing at all in minute 2 (a bucket without readings is no sample) ...
        out += w.on_reading(_r("spindle_temperature", 40.0, minute))
        out += w.on_reading(_r("vibration_rms", 1.0, minute))
    out += w.on_reading(_r("state", "running", 7.2))  # ... but one with only the state, after samples, is a gap
    out += w.on_reading(_r("spindle_temperature", 40.0, 9))
    out += w.on_reading(_r("vibration_rms", 1.0, 9))
    last = out[-1]
    assert math.isnan(last.values[-1, 0]) and last.valid_share < 1.0
