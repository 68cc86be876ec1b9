"""RFID reads of the scenario's tag passes, with a reader's real-world noise, as a timeline.

For each tag pass: with ``missed_tag_probability`` the reader never sees the tag; otherwise it reports it
``1 + Poisson(reads_per_tag_mean - 1)`` times over ``pass_duration_s`` seconds on random antennas (the
nearest antenna strongest), and with ``stray_read_probability`` the neighbouring gate's reader also catches
it a few times, weakly. Ground truth: one ``tag_pass`` fact per pass, at the time the goods passed, with what
the gate really saw and the physical move (``from_location_id`` -> ``to_location_id``; ``None`` is a truck).
A pass injected as mis-scanned (:mod:`simulators.gates.movements`) is read only when it is re-scanned
(``rescanned_at``); its goods moved at the fact's time all the same.

Every reader also publishes a heartbeat every ``heartbeat_s`` (:class:`~millstream.events.warehouse
.ReaderHeartbeat`), from the first pass to a few minutes after the last read: a quiet door's reader still says
how far its clock has come, so the gate stream's watermark is not held back by it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import datetime, timedelta

from millstream.events.base import WITHOUT_TIME_CHECK
from millstream.events.warehouse import ReaderHeartbeat, RfidRead
from millstream.masterdata import Scenario
from simulators.config import FleetParameters, GateParameters, SimulationError, simulation_config
from simulators.gates.movements import TagPass, neighbours, reader_id, tag_passes
from simulators.groundtruth import Fact
from simulators.timeline import Emission

__all__ = ["GateSimulation"]



def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's Poisson sampler (fine for the small means of tag reads)."""
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class GateSimulation:
    """The scenario's RFID gates, deterministic for a seed."""

    def __init__(self, scenario: Scenario, seed: int = 0, params: GateParameters | None = None,
                 fleet: FleetParameters | None = None) -> None:
        config = simulation_config(scenario)
        self.scenario = scenario
        self.seed = seed
        self.params = params or config.gates
        self.passes = tag_passes(scenario, seed, self.params, fleet or config.fleet)
        if not self.passes:
            msg = (f"scenario {scenario.name!r} has nothing for the gates to read: it needs receipts, shipments "
                   "from a site with an outbound dock door, or production orders at line-side locations")
            raise SimulationError(msg)
        self.neighbours = neighbours(scenario)

    def _reads(self, rng: random.Random, tag: TagPass) -> tuple[list[RfidRead], Fact]:
        p = self.params
        reads: list[RfidRead] = []
        reader = reader_id(tag.location_id)
        missed = rng.random() < p.missed_tag_probability
        nearest = rng.randrange(p.antennas)
        read_at = tag.rescan_at or tag.at  # a mis-scanned pallet is read when it is re-scanned
        if not missed:
            for _ in range(1 + _poisson(rng, p.reads_per_tag_mean - 1.0)):
                antenna = nearest if rng.random() < 0.6 else rng.randrange(p.antennas)
                rssi = -52.0 + rng.gauss(0.0, 3.0) - (0.0 if antenna == nearest else 8.0)
                reads.append(self._read(reader, antenna + 1, tag.epc, rssi,
                                        read_at + timedelta(seconds=rng.uniform(0, p.pass_duration_s))))
        stray_reader = None
        stray = 0
        neighbour = self.neighbours.get(tag.location_id)
        if neighbour is not None and not missed and rng.random() < p.stray_read_probability:
            stray_reader = reader_id(neighbour)
            stray = 1 + _poisson(rng, 0.5)
            for _ in range(stray):
                reads.append(self._read(stray_reader, rng.randrange(p.antennas) + 1, tag.epc,
                                        -74.0 + rng.gauss(0.0, 3.0),
                                        read_at + timedelta(seconds=rng.uniform(0, p.pass_duration_s))))
        fact = Fact(tag.at, "tag_pass", reader, {
            "location_id": tag.location_id, "epc": tag.epc, "movement": tag.movement, "reference": tag.reference,
            "material_id": tag.material_id, "quantity": tag.quantity, "code": tag.code, "missed": missed,
            "reads": len(reads) - stray, "stray_reader": stray_reader, "stray_reads": stray,
            "from_location_id": tag.from_location_id, "to_location_id": tag.to_location_id,
            "rescanned_at": tag.rescan_at.isoformat() if tag.rescan_at and not missed else None})
        return reads, fact

    @staticmethod
    def _read(reader: str, antenna: int, epc: str, rssi: float, at: datetime) -> RfidRead:
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        return RfidRead.model_validate({"reader_id": reader, "antenna": antenna, "epc": epc,
                                        "rssi_dbm": round(min(max(rssi, -100.0), -20.0), 1), "timestamp": at},
                                       context=WITHOUT_TIME_CHECK)

    def readers(self) -> list[str]:
        """Every gate's reader (dock doors and line-side gates), in the scenario's order."""
        return [reader_id(loc.id) for loc in self.scenario.locations if loc.kind in {"dock_door", "line_side"}]

    def _heartbeats(self, first: datetime, last: datetime) -> list[tuple[datetime, int, int, Emission]]:
        every = timedelta(seconds=self.params.heartbeat_s)
        readers = self.readers()
        out = []
        at, end = first.replace(microsecond=0), last + timedelta(minutes=5)
        while at <= end:
            out += [(at, 2, n, Emission(at, event=ReaderHeartbeat.model_validate(
                {"reader_id": reader, "heartbeat": True, "timestamp": at}, context=WITHOUT_TIME_CHECK)))
                for n, reader in enumerate(readers)]
            at += every
        return out

    def timeline(self, since: datetime | None = None) -> Iterator[Emission]:
        """Facts, reads and reader heartbeats in time order (a pass's fact at its start, its reads over the pass,
        each reader's heartbeat after the reads of its instant)."""
        rng = random.Random(f"{self.seed}:gates:reads")
        items: list[tuple[datetime, int, int, Emission]] = []
        for n, tag in enumerate(self.passes):
            reads, fact = self._reads(rng, tag)
            items.append((fact.time, 0, n, Emission(fact.time, fact=fact)))
            items += [(r.timestamp, 1, n, Emission(r.timestamp, event=r)) for r in reads]
        if items and self.params.heartbeat_s:
            times = [item[0] for item in items]
            items += self._heartbeats(max(min(times), since) if since else min(times), max(times))
        items.sort(key=lambda item: item[:3])
        for at, _, _, emission in items:
            if since is None or at >= since:
                yield emission
