"""Clocks for the dispatcher: the system clock, and a manual one tests advance by hand (no sleeping)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Protocol

from millstream.events.base import utc_now

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """What the dispatcher asks of time: when is now (retry due times), and wait a while."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Wall-clock UTC time and real waiting."""

    def now(self) -> datetime:
        return utc_now()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """Time that moves only when told: ``advance`` it past a retry's due time instead of sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or utc_now()

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by ``delta`` (seconds or a timedelta); returns the new now."""
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)
