"""The fleet clock: notices trucks that fall silent while on the road, in event time.

Fed the :class:`Beat` of every truck's pings (one keyed stream for the whole fleet), it keeps the fleet's
watermark by the shared rule (:class:`~millstream.watermark.PartitionWatermark`): the oldest input partition's
latest event time, less ``allowed_lateness`` — so a partition read behind the others (catching up after a
restart, when partitions are read a batch at a time) does not make its trucks look silent. The ``partitions``
that held pings at start hold it back until heard from; a partition from which nothing came while
``idle_beats`` beats came from the others is idle (all its trucks silent) and no longer holds it back:
idleness is counted in input, not in wall-clock time, so a replay decides alike.

When the watermark passes a truck's last beat + ``offline_after`` + ``beat_every`` (beats are thinned to one
per ``beat_every``: its last ping may be that much later than its last beat) while that truck is in transit,
the truck is offline: a condition of value 1 stamped exactly at that instant (so a replay gives the same alert id);
its next ping clears it (value 0). No wall clock is involved: if no truck pings, nothing is decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from millstream.alert_lifecycle import Condition
from millstream.logistics.outputs import AlertCondition, Beat
from millstream.watermark import IDLE_AFTER, PartitionWatermark

__all__ = ["FleetClock", "FleetState"]

_OFFLINE = "truck.offline"


@dataclass
class FleetState:
    marks: PartitionWatermark
    last_scan: datetime | None = None
    last_seen: dict[str, Beat] = field(default_factory=dict)
    offline: dict[str, datetime] = field(default_factory=dict)


class FleetClock:
    def __init__(self, offline_after: timedelta, allowed_lateness: timedelta = timedelta(seconds=30),
                 idle_beats: int = IDLE_AFTER, scan_every: timedelta = timedelta(seconds=15),
                 beat_every: timedelta = timedelta(0), partitions: tuple[int, ...] = ()) -> None:
        self.offline_after = offline_after
        self.beat_every = beat_every
        self.allowed_lateness = allowed_lateness
        self.idle_beats = idle_beats
        self.scan_every = scan_every
        self.partitions = partitions

    def __call__(self, state: FleetState | None, beat: Beat) -> tuple[FleetState, list[AlertCondition]]:
        state = state or FleetState(PartitionWatermark(self.allowed_lateness, self.partitions, self.idle_beats))
        out: list[AlertCondition] = []
        previous = state.last_seen.get(beat.truck_id)
        if previous is None or beat.at >= previous.at:
            state.last_seen[beat.truck_id] = beat
            since = state.offline.pop(beat.truck_id, None)
            if since is not None:  # back: cleared when it is known (a buffered ping may carry an older time)
                out.append(AlertCondition(_OFFLINE, Condition("truck", beat.truck_id, 0.0, max(since, beat.at),
                                                              {"shipment_id": beat.shipment_id,
                                                               "ping_at": beat.at.isoformat()})))
        if not state.marks.observe(beat.partition, beat.at):
            return state, out
        mark = state.marks.value
        assert mark is not None
        if state.last_scan is not None and mark - state.last_scan < self.scan_every:
            return state, out
        state.last_scan = mark
        for truck, seen in state.last_seen.items():
            silent_since = seen.at + self.offline_after + self.beat_every
            if seen.in_transit and truck not in state.offline and silent_since <= mark:
                state.offline[truck] = silent_since
                out.append(AlertCondition(_OFFLINE, Condition(
                    "truck", truck, 1.0, silent_since,
                    {"shipment_id": seen.shipment_id, "last_ping_at": seen.at.isoformat(),
                     "silent_min": self.offline_after.total_seconds() / 60.0})))
        return state, out
