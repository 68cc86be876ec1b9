"""The clock of a process: the wall clock, or a run's simulated clock shared by every process of the run.

A simulated clock shows ``start`` at the wall-clock instant ``wall_start`` and then runs ``speed`` times
faster. Processes that are given the same three values (``millstream up`` passes them as
``MILLSTREAM_CLOCK__*``) agree on "now" to the precision of their wall clocks, so a simulator, the OPC-UA
bridge and the plant all stamp their Kafka records (CreateTime) on one timeline.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from millstream.settings import ClockSettings

__all__ = ["SimClock", "process_clock", "record_timestamp_ms"]


class SimClock:
    """Simulated UTC time: ``start`` at ``wall_start`` (Unix seconds, default: now), advancing ``speed`` x."""

    def __init__(self, start: datetime, speed: float = 1.0, wall_start: float | None = None) -> None:
        if start.tzinfo is None:
            msg = "the simulation start must be timezone-aware UTC"
            raise ValueError(msg)
        if not speed > 0 or speed != speed or speed == float("inf"):
            msg = f"speed must be a positive, finite factor of the wall clock, got {speed}"
            raise ValueError(msg)
        self.start = start
        self.speed = speed
        # the monotonic clock's reading at wall_start: immune to wall-clock steps while the process runs
        self._wall0 = time.monotonic() - (0.0 if wall_start is None else time.time() - wall_start)

    @property
    def wall_start(self) -> float:
        """The wall-clock instant (Unix seconds) at which this clock showed ``start``."""
        return time.time() - (time.monotonic() - self._wall0)

    def elapsed_s(self) -> float:
        """Simulated seconds since ``start``."""
        return (time.monotonic() - self._wall0) * self.speed

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed_s())

    def wall_delay_until(self, instant: datetime) -> float:
        """Wall-clock seconds until simulated ``instant`` (0 when it has passed)."""
        return max(0.0, (instant - self.now()).total_seconds() / self.speed)

    async def sleep_until(self, instant: datetime) -> None:
        delay = self.wall_delay_until(instant)
        if delay > 0:
            await asyncio.sleep(delay)


class _WallClock:
    speed = 1.0

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)


def process_clock(settings: ClockSettings) -> SimClock | _WallClock:
    """The run's simulated clock when ``settings`` set one (``start``), else the wall clock."""
    if settings.start is None:
        return _WallClock()
    start = settings.start if settings.start.tzinfo else settings.start.replace(tzinfo=UTC)
    return SimClock(start, settings.speed, settings.wall_start)


def record_timestamp_ms(settings: ClockSettings) -> int | None:
    """The Kafka record timestamp (CreateTime, ms) a producer of this process sets: the run's "now" when a
    simulated clock is configured, else ``None`` (librdkafka then uses the wall clock)."""
    if settings.start is None:
        return None
    return int(process_clock(settings).now().timestamp() * 1000)
