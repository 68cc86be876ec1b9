"""When to try a failed delivery again: the Standard Webhooks schedule with jitter, and ``Retry-After``.

Attempt 1 goes out immediately; after a failed attempt *n* the next one is due ``schedule[n]`` later (5 s,
5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h), each stretched or shrunk by up to ``jitter`` (10 %) so
that endpoints coming back are not hit by every queued delivery at once. After the last attempt the
delivery is dead-lettered. A 429 or 503 answer with ``Retry-After`` (seconds or an HTTP date) sets the
next due time instead (capped at the longest step of the schedule).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

__all__ = ["STANDARD_SCHEDULE", "RetryPolicy", "parse_retry_after"]

STANDARD_SCHEDULE: tuple[timedelta, ...] = tuple(
    timedelta(seconds=s) for s in (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600,
                                   20 * 3600, 24 * 3600)
)


@dataclass
class RetryPolicy:
    """The schedule (delay before each attempt, the first normally zero) and its jitter."""

    schedule: tuple[timedelta, ...] = STANDARD_SCHEDULE
    jitter: float = 0.1
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if not self.schedule:
            msg = "a retry schedule needs at least one attempt"
            raise ValueError(msg)
        if not 0 <= self.jitter < 1:
            msg = "jitter must be in [0, 1)"
            raise ValueError(msg)

    @property
    def max_attempts(self) -> int:
        return len(self.schedule)

    @property
    def max_delay(self) -> timedelta:
        return max(self.schedule)

    def delay_after(self, attempt: int) -> timedelta | None:
        """How long after failed attempt ``attempt`` (1-based) to try again; ``None`` when it was the last."""
        if attempt >= len(self.schedule):
            return None
        base = self.schedule[attempt]
        if not self.jitter or not base:
            return base
        return base * self.rng.uniform(1 - self.jitter, 1 + self.jitter)

    def honoured_retry_after(self, retry_after: timedelta) -> timedelta:
        """A server's ``Retry-After``, kept within ``[0, max_delay]``."""
        return max(timedelta(0), min(retry_after, self.max_delay))


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` as a delay: delta-seconds or an HTTP date; ``None`` if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(timedelta(0), when - now)
