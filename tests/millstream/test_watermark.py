"""The shared partition watermark (:mod:`millstream.watermark`): the oldest partition holds it, partitions with
data at start hold it until heard from, idleness is counted in input, and it never moves back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from millstream.watermark import PartitionWatermark

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def test_a_partition_with_data_at_start_holds_the_watermark_until_heard_from() -> None:
    marks = PartitionWatermark(timedelta(minutes=1), partitions=(0, 1), idle_after=5)
    for i in range(50):  # far more than idle_after: partition 1 never heard from still holds it back
        assert marks.observe(0, at(i)) is False
    assert marks.value is None
    assert marks.observe(1, at(3)) is True
    assert marks.value == at(3) - timedelta(minutes=1)  # the older partition's newest time - lateness


def test_a_silent_partition_is_idle_after_idle_after_items_of_the_others_and_counts_again() -> None:
    marks = PartitionWatermark(timedelta(0), idle_after=5)
    marks.observe(0, at(0))
    for i in range(1, 5):
        marks.observe(1, at(10 + i))
    assert marks.value == at(0)  # partition 0 heard from 4 items ago: still holds it
    marks.observe(1, at(20))
    assert marks.value == at(20)  # 5 items from the others: partition 0 is idle
    assert marks.observe(0, at(1)) is False and marks.value == at(20)  # counts again, but never moves back
    marks.observe(1, at(21))
    assert marks.value == at(20)  # held by partition 0's newest (minute 1) -> stays at its highest
    marks.observe(0, at(30))
    assert marks.value == at(21)
