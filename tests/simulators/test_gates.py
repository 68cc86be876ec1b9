"""The RFID gates: tags decode to the scenario's GS1 keys; duplicates, misses and stray reads at their rates."""

from __future__ import annotations

import asyncio
import itertools
import math
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from connectors.kafka.admin import create_topics
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import WAREHOUSE_RFID
from millstream.epc import Sgtin96, Sscc96, decode_epc
from millstream.events.warehouse import ReaderHeartbeat, RfidRead
from millstream.masterdata import Scenario, read_scenario
from millstream.serde import decode
from millstream.settings import Settings
from simulators.clock import SimClock, run_scenario
from simulators.config import GateParameters, SimulationError, simulation_config
from simulators.fleet.trip import plan_trip
from simulators.gates.movements import run_start
from simulators.gates.simulation import GateSimulation
from simulators.groundtruth import GroundTruth
from simulators.timeline import play
from tests.helpers.kafka import consume_messages
from tests.helpers.paths import ROOT

START = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return read_scenario(ROOT / "scenarios" / "demo.yaml").rebased(START)


@pytest.fixture(scope="module")
def run(scenario: Scenario):
    sim = GateSimulation(scenario, seed=9)
    timeline = list(sim.timeline())
    reads = [e.event for e in timeline if isinstance(e.event, RfidRead)]
    facts = [e.fact for e in timeline if e.fact is not None]
    return sim, reads, facts


@pytest.mark.slow
def test_same_seed_same_reads(scenario: Scenario, run) -> None:
    _, reads, _ = run
    again = [e.event for e in GateSimulation(scenario, seed=9).timeline() if isinstance(e.event, RfidRead)]
    assert [r.id for r in again] == [r.id for r in reads]
    other = [e.event for e in GateSimulation(scenario, seed=10).timeline() if isinstance(e.event, RfidRead)]
    assert [r.id for r in other] != [r.id for r in reads]


def test_inbound_pallets_match_the_receipts(scenario: Scenario, run) -> None:
    _, reads, facts = run
    inbound = [f for f in facts if f.details["movement"] == "inbound"]
    assert sorted(f.details["reference"] for f in inbound) == sorted(r.id for r in scenario.receipts)
    receipts = {r.id: r for r in scenario.receipts}
    for fact in inbound:
        receipt = receipts[fact.details["reference"]]
        decoded = decode_epc(fact.details["epc"])
        assert isinstance(decoded, Sscc96) and decoded.sscc == receipt.sscc
        assert fact.subject == f"RDR-{receipt.location_id}"
        assert fact.time >= receipt.expected_at
        own = [r for r in reads if r.epc == fact.details["epc"] and r.reader_id == fact.subject]
        assert len(own) == fact.details["reads"]


def test_outbound_cases_match_the_shipment_being_loaded(scenario: Scenario, run) -> None:
    sim, _, facts = run
    materials = {m.id: m for m in scenario.materials}
    for shipment in scenario.shipments:
        cases = [f for f in facts if f.details["reference"] == shipment.id]
        plan = plan_trip(shipment, sim.seed, simulation_config(scenario).fleet)
        assert cases, shipment.id
        assert all(plan.loading_from <= f.time <= plan.departure for f in cases)
        by_material = defaultdict(float)
        for f in cases:
            decoded = decode_epc(f.details["epc"])
            assert isinstance(decoded, Sgtin96)
            assert decoded.gtin == materials[f.details["material_id"]].gtin
            by_material[f.details["material_id"]] += f.details["quantity"]
        assert by_material == {i.material_id: i.quantity for i in shipment.items}
    epcs = [f.details["epc"] for f in facts]
    assert len(epcs) == len(set(epcs)), "every case has its own serial"


def test_line_side_transfers_cover_the_orders_bom_needs(scenario: Scenario, run) -> None:
    """Each order's components, with the BOM's scrap factor and the allowance for scrapped parts, in whole cases.
    (Exactly ``quantity x planned_qty`` — what the gates once delivered — cannot cover a BOM line with a scrap
    factor nor a single scrapped part: the line side ran dry in the simulated world itself.)"""
    sim, _, facts = run
    boms = {b.product_id: b for b in scenario.boms}
    for order in scenario.production_orders:
        moved = Counter()
        for f in facts:
            if f.details["movement"] == "line_side" and f.details["reference"] == order.id:
                moved[f.details["material_id"]] += f.details["quantity"]
        needed = {c.material_id: c.quantity * (1 + c.scrap_factor) * order.planned_qty
                  for c in boms[order.product_id].components}
        assert set(moved) == set(needed)
        for material, qty in needed.items():
            assert moved[material] == math.ceil(qty * (1 + sim.params.line_side_allowance) - 1e-9), (order.id, material)
            assert moved[material] >= qty * 1.1, (order.id, material)


def test_nothing_passes_before_the_run_begins_and_line_sides_are_supplied_before_their_orders_can_start(
        scenario: Scenario, run) -> None:
    _, _, facts = run
    begins = simulation_config(scenario).start
    assert begins is not None and min(f.time for f in facts) >= begins
    machines = {m.id: m for m in scenario.machines}
    earliest: dict[str, float] = {}
    offset: dict[str, float] = defaultdict(float)
    for order in sorted(scenario.production_orders, key=lambda o: (o.machine_id, o.sequence)):
        earliest[order.id] = offset[order.machine_id]
        # the plant's cycle times vary by +-5 %: no order starts before 95 % of the nominal time before it
        offset[order.machine_id] += 0.95 * order.planned_qty * machines[order.machine_id].cycle_time_s
    for f in facts:
        if f.details["movement"] == "line_side":
            start = earliest[f.details["reference"]]
            last = begins + timedelta(seconds=start - 240) if start else begins + timedelta(minutes=11)
            assert f.time <= last, (f.details["reference"], f.time - begins)


def test_every_pass_says_where_its_goods_physically_went(scenario: Scenario, run) -> None:
    _, _, facts = run
    store = {"raw": "LIV-WH", "component": "LIV-WH", "semi_finished": "LIV-WH", "packaging": "LIV-WH",
             "finished": "LIV-FG"}
    kinds = {m.id: m.kind for m in scenario.materials}
    for f in facts:
        d = f.details
        here = "MAN-WH" if d["location_id"].startswith("MAN-") else store[kinds[d["material_id"]]]
        expected = {"inbound": (None, here), "outbound": (here, None), "line_side": (here, d["location_id"])}
        assert (d["from_location_id"], d["to_location_id"]) == expected[d["movement"]], d
        assert d["rescanned_at"] is None


def test_a_mis_scanned_pallet_passes_unread_and_is_read_when_re_scanned(scenario: Scenario, run) -> None:
    sim, reads, _ = run
    injected = scenario.model_copy(update={"simulation": {**scenario.simulation, "gates": {
        **scenario.simulation["gates"], "inject": ["mis_scanned_pallet"], "rescan_after_min": 200}}})
    timeline = list(GateSimulation(injected, seed=9).timeline())
    late = [e.fact for e in timeline if e.fact is not None and e.fact.details["rescanned_at"]]
    # One delivery: the 69 housings of PO-1014 (more than LIV-LINE-B has left of them after all orders).
    assert {(f.details["reference"], f.details["material_id"]) for f in late} == {("PO-1014", "SF-HOUSING")}
    assert len(late) == 69 and all(f.details["movement"] == "line_side" for f in late)
    by_epc = {f.details["epc"]: f for f in late}
    again = [e.event for e in timeline if isinstance(e.event, RfidRead)]
    assert len(again) == len(reads)
    for read in again:
        fact = by_epc.get(read.epc)
        if fact is not None:  # read only at the re-scan, 200 minutes after the goods passed
            rescan = datetime.fromisoformat(fact.details["rescanned_at"])
            assert rescan == fact.time + timedelta(minutes=200) and rescan <= read.timestamp <= rescan + timedelta(
                seconds=sim.params.pass_duration_s + 1)
    assert sorted(r.id for r in again if r.epc not in by_epc) == sorted(r.id for r in reads if r.epc not in by_epc)


def test_the_gates_play_the_run_from_simulation_start_wherever_the_run_lies() -> None:
    """The plant starts at the run's origin, and so does the gates' timeline (``simulation.start`` moves with the
    scenario's other instants when it is put on a run's timeline)."""
    demo = read_scenario(ROOT / "scenarios" / "demo.yaml")
    origin = datetime(2031, 3, 4, 5, 6, tzinfo=UTC)
    run = run_scenario(demo, origin)
    assert run_start(run) == origin == simulation_config(run).start
    facts = [e.fact for e in GateSimulation(run, seed=1).timeline() if e.fact is not None]
    assert min(f.time for f in facts) >= origin
    assert min(f.time for f in facts if f.details["movement"] == "line_side") < origin + timedelta(minutes=6)


def test_the_demo_readers_miss_no_tag(run) -> None:
    sim, _, facts = run
    assert sim.params.missed_tag_probability == 0 and not any(f.details["missed"] for f in facts)


def test_duplicates_misses_and_stray_reads_at_the_configured_rates(scenario: Scenario) -> None:
    # A missed tag is a fault the demo does not inject (its readers see every tag): configure one.
    sim = GateSimulation(scenario, seed=9, params=GateParameters(missed_tag_probability=0.02))
    timeline = list(sim.timeline())
    reads = [e.event for e in timeline if isinstance(e.event, RfidRead)]
    facts = [e.fact for e in timeline if e.fact is not None]
    p = sim.params
    missed = [f for f in facts if f.details["missed"]]
    seen = [f for f in facts if not f.details["missed"]]
    n = len(facts)
    assert n > 5000
    tolerance = 4 * math.sqrt(p.missed_tag_probability * (1 - p.missed_tag_probability) / n)
    assert abs(len(missed) / n - p.missed_tag_probability) < tolerance
    assert all(f.details["reads"] == 0 and f.details["stray_reads"] == 0 for f in missed)
    mean_reads = statistics.mean(f.details["reads"] for f in seen)
    assert abs(mean_reads - p.reads_per_tag_mean) < 0.1 * p.reads_per_tag_mean
    with_neighbour = [f for f in seen if f.details["location_id"] in sim.neighbours]
    stray_rate = sum(1 for f in with_neighbour if f.details["stray_reads"]) / len(with_neighbour)
    tolerance = 4 * math.sqrt(p.stray_read_probability * (1 - p.stray_read_probability) / len(with_neighbour))
    assert abs(stray_rate - p.stray_read_probability) < tolerance
    by_reader = Counter((r.reader_id, r.epc) for r in reads)
    for f in seen:
        assert by_reader[(f.subject, f.details["epc"])] == f.details["reads"]
        if f.details["stray_reads"]:
            assert by_reader[(f.details["stray_reader"], f.details["epc"])] >= f.details["stray_reads"]
            assert f.details["stray_reader"] == f"RDR-{sim.neighbours[f.details['location_id']]}"
    own_gate = {(f.subject, f.details["epc"]) for f in facts}
    strays = [r for r in reads if (r.reader_id, r.epc) not in own_gate]
    assert strays and max(r.rssi_dbm for r in strays) < statistics.mean(r.rssi_dbm for r in reads)


def test_rates_follow_the_configuration(scenario: Scenario) -> None:
    params = GateParameters(reads_per_tag_mean=2.0, stray_read_probability=0.5, missed_tag_probability=0.0)
    sim = GateSimulation(scenario, seed=1, params=params)
    facts = [e.fact for e in sim.timeline() if e.fact is not None]
    assert not any(f.details["missed"] for f in facts)
    assert abs(statistics.mean(f.details["reads"] for f in facts) - 2.0) < 0.1
    near = [f for f in facts if f.details["location_id"] in sim.neighbours]
    assert abs(sum(1 for f in near if f.details["stray_reads"]) / len(near) - 0.5) < 0.05


def test_bad_gate_settings_are_refused(scenario: Scenario) -> None:
    with pytest.raises(SimulationError, match=r"simulation\.gates\.stray_read_probability"):
        GateSimulation(scenario.model_copy(update={"simulation": {"gates": {"stray_read_probability": 2}}}))
    empty = scenario.model_copy(update={"receipts": [], "shipments": [], "production_orders": []})
    with pytest.raises(SimulationError, match="nothing for the gates to read"):
        GateSimulation(empty)


def test_publishes_reads_to_kafka(settings: Settings, scenario: Scenario) -> None:
    create_topics(settings.kafka, [WAREHOUSE_RFID])
    sim = GateSimulation(scenario, seed=2)
    until = START.replace(hour=8)  # the run begins at 07:40
    expected = [e.event for e in sim.timeline() if e.event is not None and e.at <= until]
    producer = EventProducer(settings.kafka)
    truth = GroundTruth()

    async def go() -> None:
        await play(sim.timeline(), SimClock(START, 1e9), lambda e: producer.send(WAREHOUSE_RFID, e), truth,
                   asyncio.Event(), until=until)

    asyncio.run(go())
    assert producer.flush(30) == 0 and producer.delivered == len(expected) > 100
    received: list[RfidRead] = []
    for msg in consume_messages(settings, WAREHOUSE_RFID.full_name(settings.kafka), len(expected), timeout_s=60):
        read = decode(msg.value(), RfidRead, time_policy=None)
        assert msg.key().decode() == read.reader_id
        received.append(read)
    assert sorted(r.id for r in received) == sorted(r.id for r in expected)
    assert truth.of_kind("tag_pass")


def test_every_reader_publishes_a_heartbeat_after_its_reads_at_a_steady_interval(scenario: Scenario) -> None:
    sim = GateSimulation(scenario, seed=9)
    every = timedelta(seconds=sim.params.heartbeat_s)
    newest_read: dict[str, datetime] = {}
    beats: dict[str, list[datetime]] = {}
    last_read = None
    for e in sim.timeline():
        if isinstance(e.event, RfidRead):
            newest_read[e.event.reader_id] = e.event.timestamp
            last_read = e.event.timestamp
        elif isinstance(e.event, ReaderHeartbeat):
            assert e.at == e.event.timestamp
            # a heartbeat at t says: every read of this reader before t is out
            assert newest_read.get(e.event.reader_id, e.at) <= e.at
            beats.setdefault(e.event.reader_id, []).append(e.event.timestamp)
    assert sorted(beats) == sorted(sim.readers()) and len(beats) == 7
    for times in beats.values():
        assert {b - a for a, b in itertools.pairwise(times)} == {every}
        assert last_read is not None and times[-1] >= last_read
    quiet = GateSimulation(scenario, seed=9, params=sim.params.model_copy(update={"heartbeat_s": 0.0}))
    assert not any(isinstance(e.event, ReaderHeartbeat) for e in quiet.timeline())
