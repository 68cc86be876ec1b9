"""Per-tag sessions of RFID reads, decided in event time by the gate stream's watermark (no wall clock).

The reads of one EPC (any reader, any antenna) whose times chain within ``gap`` of each other are one
session, the candidate of one gate pass. Reads of a tag come from several input partitions (the topic is
keyed by reader), so they arrive in any order; a session is decided only when no read that could still
belong to it can come any more, and that is said by event time alone:

- the **watermark** is the gate stream's :class:`~millstream.watermark.PartitionWatermark` (the shared rule:
  the oldest input partition's newest read or reader heartbeat time, less ``lateness`` =
  ``inventory.late_wait_s``; a quiet door's reader moves its partition on by its heartbeats; partitions
  with reads to come when the flow started hold it back until heard from; a partition silent while
  ``idle_reads`` reads came from the others is idle and no longer holds it back); and the watermark starts only
  once every one of the scenario's ``readers`` has been heard from (a read or a heartbeat), or after
  ``idle_reads`` messages: a flow that follows topics still empty when it started knows no partition with
  data, and a burst from one partition read ahead of the others would otherwise make the others' reads late;
- a session whose last read lies more than ``gap`` behind the watermark is decided (a later read would start
  the next session);
- a read behind the watermark when it arrives is **late** and dropped (counted), whatever the session it
  would have joined.

So the same reads give the same sessions whatever the interleaving of partitions or the speed of the run, as
long as no partition, once started, stays silent for ``idle_reads`` reads of the others while it still has
reads (the flow reads the topic a small batch per partition at a time). At the end of the input every session
is decided.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from millstream.inventory.gates import GateRead
from millstream.watermark import IDLE_AFTER, PartitionWatermark

__all__ = ["IDLE_READS", "GateSessions"]

#: Reads of the other partitions after which a silent partition is idle (see :mod:`millstream.watermark`).
IDLE_READS = IDLE_AFTER


def _at(read: GateRead) -> datetime:
    return read.read.timestamp


def _order(read: GateRead) -> tuple[datetime, str]:
    return read.read.timestamp, read.read.id


@dataclass
class GateSessions:
    """The undecided reads of every tag and the gate stream's event-time watermark (one per flow)."""

    gap: timedelta
    lateness: timedelta
    partitions: tuple[int, ...] = ()
    idle_reads: int = IDLE_READS
    marks: PartitionWatermark = field(init=False)
    pending: dict[str, list[GateRead]] = field(default_factory=dict)
    #: Per EPC, the earliest watermark at which its first session may be decided; ``queue`` is its heap
    #: (entries that no longer match ``due`` are stale and skipped).
    due: dict[str, datetime] = field(default_factory=dict)
    queue: list[tuple[datetime, str]] = field(default_factory=list)
    #: Per EPC, the time of its oldest undecided read.
    first: dict[str, datetime] = field(default_factory=dict)
    #: The readers the watermark waits for (see the module docstring); those not heard from yet, and the
    #: messages taken while waiting.
    readers: frozenset[str] = frozenset()
    unheard: set[str] = field(init=False)
    waited: int = 0

    def __post_init__(self) -> None:
        self.marks = PartitionWatermark(self.lateness, self.partitions, self.idle_reads, hold=bool(self.readers))
        self.unheard = set(self.readers)

    def __setstate__(self, state: dict[str, object]) -> None:
        # a snapshot from before ``first`` was kept: rebuild it from the pending reads
        if "first" not in state:
            pending = state.get("pending", {})
            assert isinstance(pending, dict)
            state["first"] = {epc: min(_at(r) for r in reads) for epc, reads in pending.items() if reads}
        state.setdefault("readers", frozenset())  # older snapshots: nothing to wait for
        state.setdefault("unheard", set())
        state.setdefault("waited", 0)
        self.__dict__.update(state)

    def _reader(self, reader_id: str) -> None:
        if not self.marks.hold:
            return
        self.unheard.discard(reader_id)
        self.waited += 1
        if not self.unheard or self.waited >= self.idle_reads:
            self.marks.release()

    @property
    def watermark(self) -> datetime | None:
        """The gate stream's event-time watermark (``None`` until every partition with reads was heard from)."""
        return self.marks.value

    def add(self, partition: int, read: GateRead) -> bool:
        """Take ``read`` from input ``partition``; ``False`` when it is late (and dropped)."""
        at = _at(read)
        late = self.watermark is not None and at < self.watermark
        self.marks.observe(partition, at)
        self._reader(read.read.reader_id)
        if late:
            return False
        epc = read.read.epc
        self.pending.setdefault(epc, []).append(read)
        if epc not in self.first or at < self.first[epc]:
            self.first[epc] = at
        due = at + self.gap
        current = self.due.get(epc)
        if current is None or due < current:
            self.due[epc] = due
            heapq.heappush(self.queue, (due, epc))
        return True

    def heard(self, partition: int, at: datetime, reader_id: str = "") -> None:
        """Reader ``reader_id`` of input ``partition`` has published every read before ``at`` (its heartbeat,
        :class:`~millstream.events.warehouse.ReaderHeartbeat`): the partition's event time moves on."""
        self.marks.observe(partition, at)
        self._reader(reader_id)

    def progress(self) -> datetime | None:
        """No pass decided from now on has a first read before this instant: the older of the watermark (a read
        behind it is late) and the first read of a session still open (``None`` while the watermark is not
        known)."""
        mark = self.watermark
        if mark is None:
            return None
        return min(mark, min(self.first.values(), default=mark))

    def decided(self) -> list[list[GateRead]]:
        """The sessions the watermark has closed, oldest first (each a list of reads in time order)."""
        out: list[list[GateRead]] = []
        mark = self.watermark
        if mark is None:
            return out
        while self.queue and self.queue[0][0] < mark:
            due, epc = heapq.heappop(self.queue)
            if self.due.get(epc) != due:
                continue
            sessions = self._sessions(epc)
            while sessions and _at(sessions[0][-1]) + self.gap < mark:
                out.append(sessions.pop(0))
            if sessions:
                self.pending[epc] = [r for s in sessions for r in s]
                self.first[epc] = _at(sessions[0][0])
                self.due[epc] = _at(sessions[0][-1]) + self.gap
                heapq.heappush(self.queue, (self.due[epc], epc))
            else:
                del self.pending[epc], self.due[epc], self.first[epc]
        out.sort(key=lambda s: (_at(s[0]), s[0].read.epc))
        return out

    def close_all(self) -> list[list[GateRead]]:
        """Every pending session, decided (the end of the input)."""
        out = [s for epc in list(self.pending) for s in self._sessions(epc)]
        self.pending.clear()
        self.due.clear()
        self.queue.clear()
        self.first.clear()
        out.sort(key=lambda s: (_at(s[0]), s[0].read.epc))
        return out

    def _sessions(self, epc: str) -> list[list[GateRead]]:
        sessions: list[list[GateRead]] = []
        for read in sorted(self.pending.get(epc, ()), key=_order):
            if sessions and _at(read) - _at(sessions[-1][-1]) <= self.gap:
                sessions[-1].append(read)
            else:
                sessions.append([read])
        return sessions
