"""Simulated time: a UTC clock that runs ``speed`` times faster than the wall clock from a start instant.

Every timestamp a simulator emits is read from a :class:`SimClock`, so ``--speed 60`` plays an hour per
minute and the events still carry consistent (simulated) event times.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

from simulators.config import check_speed

__all__ = ["SimClock"]


class SimClock:
    """Simulated UTC time: ``start`` at creation, then advancing ``speed`` x the monotonic wall clock."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        if start.tzinfo is None:
            msg = "the simulation start must be timezone-aware UTC"
            raise ValueError(msg)
        self.start = start
        self.speed = check_speed(speed)
        self._wall0 = time.monotonic()

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
