"""The event-time watermark of a stream read from several input partitions (one rule for every flow).

Every input partition's **newest** event time is tracked; the watermark is the **oldest** of those (a
partition is read in time order, so nothing older can come from it), less ``lateness`` (how far an item may
lag the others of its own partition). Two rules keep a catch-up after a restart from deciding too early:

- the ``partitions`` that had data to come when the flow started hold the watermark back until they have been
  heard from (however long the others take to start);
- a partition heard from and then silent while ``idle_after`` items came from the others is **idle** and no
  longer holds it back; idleness is counted in input, not in wall-clock time, so a replay decides alike. Its
  next item makes it count again.

``idle_after`` is large on purpose (:data:`IDLE_AFTER`): while catching up with several workers, one worker's
partitions are not polled while it writes a batch, and the others read on (with 10,000 the 2-worker inventory
run intermittently mis-booked dock receipts). The price: a partition that really falls silent holds the
watermark back that long (or until the end of input). The watermark never moves back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["IDLE_AFTER", "PartitionWatermark"]

#: Items from the other partitions after which a partition heard from and then silent is idle.
IDLE_AFTER = 100_000


@dataclass
class PartitionWatermark:
    """The watermark over input partitions: the oldest partition's newest time - ``lateness``."""

    lateness: timedelta
    partitions: tuple[int, ...] = ()
    idle_after: int = IDLE_AFTER
    newest: dict[int, datetime] = field(default_factory=dict)
    #: Items taken so far, and the count at each partition's last item.
    items: int = 0
    heard: dict[int, int] = field(default_factory=dict)
    value: datetime | None = None
    #: While set, the watermark is not known yet (the stream waits for sources it expects, see ``release``).
    hold: bool = False

    def observe(self, partition: int, at: datetime) -> bool:
        """Take an item of event time ``at`` from ``partition``; ``True`` when the watermark moved forward."""
        self.items += 1
        self.heard[partition] = self.items
        seen = self.newest.get(partition)
        if seen is None or at > seen:
            self.newest[partition] = at
        return self._advance()

    def release(self) -> bool:
        """End the ``hold``; ``True`` when the watermark moved forward."""
        self.hold = False
        return self._advance()

    def _advance(self) -> bool:
        if self.hold:
            return False
        if any(p not in self.newest for p in self.partitions):
            return False  # a partition with data to come, not heard from yet, holds it back
        held = [newest for p, newest in self.newest.items() if self.items - self.heard[p] < self.idle_after]
        mark = (min(held) if held else max(self.newest.values())) - self.lateness
        if self.value is not None and mark <= self.value:
            return False
        self.value = mark
        return True
