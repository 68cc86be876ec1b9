"""Gate passes depend on event time only: the same RFID reads, read from three input partitions in different
interleavings (aligned, one partition lagging minutes of event time behind the others, two workers), give the
same passes and movements. The lagging partition holds the strong reader's reads: deciding a tag's session on
arrival order or after a wall-clock wait would take the neighbouring door's stray read as the pass."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.testing import TestingSink, cluster_main, run_main

from millstream.epc import encode_sgtin96
from millstream.events.warehouse import RfidRead
from millstream.inventory.gates import GatePass, identify, pass_movement
from millstream.settings import InventorySettings
from streams.inventory import gate_passes
from tests.helpers.inventory import CATALOG, T0, read

GTIN = "04012345020014"  # bearing cases: received at the inbound dock, transferred to line B
SLICE = timedelta(seconds=60)
PARAMS = InventorySettings(dedup_window_s=10, late_wait_s=30, min_rssi_dbm=-78)


def gate_reads(tags: int = 20) -> dict[int, list[RfidRead]]:
    """Per input partition, in time order: each case passes the inbound dock LIV-DOCK-01 (strong reads, partition
    2; the neighbouring door LIV-DOCK-02 glimpses it a moment earlier, partition 0) and two minutes later the
    line-side gate LIV-LINE-B (partition 1)."""
    parts: dict[int, list[RfidRead]] = {0: [], 1: [], 2: []}
    for i in range(tags):
        epc = encode_sgtin96(GTIN, 1000 + i, 7)
        s = i * 40.0
        parts[0].append(read("RDR-LIV-DOCK-02", epc, s, antenna=2, rssi=-72))
        parts[2] += [read("RDR-LIV-DOCK-01", epc, s + 0.5, rssi=-51), read("RDR-LIV-DOCK-01", epc, s + 1.2, 2, -49)]
        parts[1] += [read("RDR-LIV-LINE-B", epc, s + 120), read("RDR-LIV-LINE-B", epc, s + 121, 2, -55)]
    return {p: sorted(reads, key=lambda r: r.timestamp) for p, reads in parts.items()}


def _minutes(reads: list[RfidRead]) -> list[list[RfidRead]]:
    slices: list[list[RfidRead]] = []
    start = T0
    while reads:
        slices.append([r for r in reads if r.timestamp < start + SLICE])
        reads = [r for r in reads if r.timestamp >= start + SLICE]
        start += SLICE
    return slices


class _Partition(StatefulSourcePartition[tuple[int, RfidRead], None]):
    """One partition's reads, a minute of event time per batch, in step with the other partitions; a lagging
    partition hands out its next minute only when the others are ``lag`` minutes further on (or done), and
    they wait for it not to fall further behind."""

    def __init__(self, source: _Source, part: int) -> None:
        self._source = source
        self._part = part
        self._slices = source.slices[part]
        self._next = 0

    def next_batch(self) -> list[tuple[int, RfidRead]]:
        if self._next >= len(self._slices):
            raise StopIteration
        source = self._source
        with source.lock:
            lagging = self._part in source.lagging
            for other, done in source.progress.items():
                if other == self._part or done >= len(source.slices[other]):
                    continue
                if lagging and other not in source.lagging and done < self._next + source.lag + 1:
                    return []
                if not lagging and other in source.lagging and done < self._next - source.lag:
                    return []  # no further ahead than that
                if lagging == (other in source.lagging) and done < self._next:
                    return []  # in step with the others of its kind
            batch = self._slices[self._next]
            self._next += 1
            source.progress[self._part] = self._next
        return [(self._part, r) for r in batch]

    def snapshot(self) -> None:
        return None


class _Source(FixedPartitionedSource[tuple[int, RfidRead], None]):
    def __init__(self, reads: dict[int, list[RfidRead]], lagging: tuple[int, ...] = (), lag: int = 0) -> None:
        self.reads = reads
        self.lagging = lagging
        self.lag = lag
        self.lock = threading.Lock()
        self.progress = dict.fromkeys(reads, 0)
        self.slices = {p: _minutes(r) for p, r in reads.items()}

    def list_parts(self) -> list[str]:
        return [str(p) for p in self.reads]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _Partition:
        return _Partition(self, int(for_part))


def passes_of(source: _Source, workers: int = 1) -> list[tuple[Any, ...]]:
    out: list[GatePass] = []
    flow = Dataflow("gate_replay")
    reads = op.input("reads", flow, source)
    identified = op.map("identify", reads, lambda item: (item[0], identify(item[1], CATALOG)))
    op.output("out", gate_passes(identified, PARAMS, partitions=(0, 1, 2)), TestingSink(out))
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    rows = []
    for gate in out:
        move = pass_movement(gate, CATALOG)
        rows.append((gate.id, gate.reader_id, gate.reads, gate.stray_reads, move.id, move.movement_type,
                     move.to_location_id))
    return sorted(rows)


def test_passes_do_not_depend_on_how_partitions_interleave() -> None:
    reads = gate_reads()
    aligned = passes_of(_Source(reads))
    # Every case: received at the strong dock reader (the neighbour's read a stray), then moved to line B.
    assert len(aligned) == 40
    assert sorted({(r[1], r[2], r[3], r[5], r[6]) for r in aligned}) == [
        ("RDR-LIV-DOCK-01", 2, 1, "goods_receipt", "LIV-WH"), ("RDR-LIV-LINE-B", 2, 0, "transfer", "LIV-LINE-B")]
    # The dock's partition read up to four minutes of event time behind the others (far beyond the lateness).
    assert passes_of(_Source(reads, lagging=(2,), lag=3)) == aligned
    # The line gate's partition lagging instead, and two workers sharing the partitions.
    assert passes_of(_Source(reads, lagging=(1,), lag=5)) == aligned
    assert passes_of(_Source(reads), workers=2) == aligned
