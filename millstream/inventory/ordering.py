"""One material's movements from several sources, applied in event-time order.

Movements reach the stock step from independent sources that are read at their own pace: the part counters
of each machine (``telemetry.readings``), the gate stream (``warehouse.rfid``, decided by its watermark) and
the opening stock. Applied in the order they arrive, a backflush read ahead of the transfer that brought its
material to the line side takes stock the ledger does not know of yet — a stock exception that never
happened physically (a replay reads hours of counters before the first gate pass). So each material keeps
its movements in :class:`MovementOrder` and releases them in event-time order:

- each source reports its **progress** (:class:`Progress`): no movement of it with an earlier event time will
  come any more (a machine: the time of its newest reading, its pending scan is at that time or later; the
  gate stream: the older of its watermark and the first read of a session still open; a finished source:
  :data:`DONE`);
- a material's movements wait until every source that can bring one of it — the opening stock, the gate
  stream and the machines whose orders make or consume it (:meth:`~millstream.inventory.catalog.Catalog
  .sources_of`) — has progressed past them, then go out oldest first (at one instant, what puts stock before
  what takes it, then by id);
- with ``max_wait`` (a flow that follows its topics) a movement waits at most that long in event time behind
  the newest progress of any source, so a silent source (a quiet gate, a machine offline) delays the others
  by at most that; without it (``--once``) only the end of the input releases what a source still holds back;
- a movement older than what was already released is **late** and goes out at once (counted in ``late``).

The order, and so FIFO allocations and stock exceptions, then depends only on the movements, not on how the
sources' reads interleaved — as long as no source lags the newest by more than ``max_wait``.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from millstream.inventory.movements import Movement

__all__ = ["DONE", "MovementOrder", "Progress"]

#: The progress of a source that will bring nothing more (end of its input).
DONE = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Progress:
    """``source`` will bring no movement of ``material_id`` with an event time before ``at``."""

    material_id: str
    source: str
    at: datetime


def _key(m: Movement) -> tuple[datetime, int, str]:
    return m.occurred_at, 0 if m.from_location_id is None else 1, m.id


@dataclass
class MovementOrder:
    """One material's movements waiting for their sources, released in event-time order."""

    sources: frozenset[str]
    max_wait: timedelta | None = None
    progress: dict[str, datetime] = field(default_factory=dict)
    pending: list[tuple[tuple[datetime, int, str], Movement]] = field(default_factory=list)
    #: Everything before this instant has been released; a movement older than it is late.
    frontier: datetime | None = None
    late: int = 0

    def copy(self) -> MovementOrder:
        """A copy for a snapshot (movements are immutable: the containers are copied, not the movements)."""
        return MovementOrder(self.sources, self.max_wait, dict(self.progress), list(self.pending), self.frontier,
                             self.late)

    def add(self, movement: Movement) -> list[Movement]:
        """Take a movement; the movements it lets go (itself at once when it is late)."""
        if self.frontier is not None and movement.occurred_at < self.frontier:
            self.late += 1
            return [movement]
        heapq.heappush(self.pending, (_key(movement), movement))
        return self._release()

    def advance(self, source: str, at: datetime) -> list[Movement]:
        """``source`` has progressed to ``at``; the movements that may go now, oldest first."""
        if at > self.progress.get(source, at - timedelta(microseconds=1)):
            self.progress[source] = at
        return self._release() if self.pending else self._move_frontier()

    def flush(self) -> list[Movement]:
        """Everything still waiting, oldest first (the end of the input)."""
        out = [heapq.heappop(self.pending)[1] for _ in range(len(self.pending))]
        if out:
            self.frontier = max(self.frontier or out[-1].occurred_at, out[-1].occurred_at)
        return out

    def watermark(self) -> datetime | None:
        """Movements before this instant may go: the slowest source's progress (``None``: a source not heard
        from yet), or with ``max_wait`` no earlier than the newest progress less ``max_wait``."""
        held = [self.progress.get(s) for s in self.sources]
        mark = None if any(p is None for p in held) else min(p for p in held if p is not None)
        if self.max_wait is not None:
            live = [p for p in self.progress.values() if p != DONE]
            if live:
                bound = max(live) - self.max_wait
                mark = bound if mark is None else max(mark, bound)
        return mark

    def _move_frontier(self) -> list[Movement]:
        mark = self.watermark()
        if mark is not None and (self.frontier is None or mark > self.frontier):
            self.frontier = mark
        return []

    def _release(self) -> list[Movement]:
        mark = self.watermark()
        if mark is None:
            return []
        out = []
        while self.pending and self.pending[0][0][0] < mark:
            out.append(heapq.heappop(self.pending)[1])
        if self.frontier is None or mark > self.frontier:
            self.frontier = mark
        return out
