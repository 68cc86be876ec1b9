"""RFID gate reads -> passes -> movements on the demo master data: decoding and look-up errors, dedup across
antennas, strays from the neighbouring door, direction from the reader's role."""

from __future__ import annotations

from datetime import timedelta

import pytest

from millstream.epc import encode_sgtin96, encode_sscc96
from millstream.events.warehouse import RfidRead
from millstream.inventory.gates import GateReadError, decide_pass, identify, pass_movement
from millstream.inventory.sessions import GateSessions
from tests.helpers.inventory import CATALOG, T0, read

PALLET = encode_sscc96("040123450001000022", 7)  # GR-7003: 400 kg aluminium billet at LIV-DOCK-01
BEARING_CASE = encode_sgtin96("04012345020014", 77, 7)
PUMP_CASE = encode_sgtin96("04012345040012", 5, 7)




@pytest.mark.parametrize(("raw", "error_type", "says"), [
    (read("RDR-LIV-DOCK-01", "E2801160600002054A1B2C3D"), "invalid_epc", "header 0xE2 is not supported"),
    (read("RDR-NOWHERE", PALLET), "unknown_reader", "'RDR-NOWHERE' is not at any gate"),
    (read("RDR-LIV-DOCK-01", encode_sgtin96("04012345999990", 1, 7)), "unmapped_epc", "maps to no material"),
    (read("RDR-LIV-DOCK-01", encode_sscc96("040123459999999998", 7)), "unmapped_epc", "sscc"),
])
def test_bad_reads_are_refused_with_a_reason(raw: RfidRead, error_type: str, says: str) -> None:
    with pytest.raises(GateReadError) as caught:
        identify(raw, CATALOG)
    assert caught.value.error_type == error_type
    assert says in str(caught.value)


def test_duplicates_across_antennas_are_one_pass_and_the_neighbour_door_is_a_stray() -> None:
    reads = [read("RDR-LIV-DOCK-01", PALLET, s, antenna=a, rssi=r)
             for s, a, r in [(0.2, 1, -51), (0.9, 2, -60), (1.5, 1, -50), (3.0, 3, -61)]]
    reads += [read("RDR-LIV-DOCK-02", PALLET, 0.1, antenna=2, rssi=-73), read("RDR-LIV-DOCK-02", PALLET, 2, rssi=-75)]
    gate = decide_pass([identify(r, CATALOG) for r in reads], min_rssi_dbm=-78)
    assert gate is not None
    assert (gate.reader_id, gate.location_id, gate.reads, gate.antennas, gate.stray_reads) == (
        "RDR-LIV-DOCK-01", "LIV-DOCK-01", 4, 3, 2)
    assert gate.first_seen_at == T0 + timedelta(seconds=0.2)
    assert gate.peak_rssi_dbm == -50
    assert gate.epc_uri == "urn:epc:id:sscc:4012345.0000100002"
    move = pass_movement(gate, CATALOG)
    assert (move.movement_type, move.material_id, move.quantity, move.to_location_id, move.lot, move.reference) == (
        "goods_receipt", "RM-ALU-BILLET", 400, "LIV-WH", "040123450001000022", "GR-7003")


def test_a_tag_only_glimpsed_weakly_is_no_pass() -> None:
    assert decide_pass([identify(read("RDR-LIV-DOCK-02", PALLET, rssi=-81), CATALOG)], min_rssi_dbm=-78) is None


def test_direction_follows_the_reader_role() -> None:
    line = decide_pass([identify(read("RDR-LIV-LINE-B", BEARING_CASE), CATALOG)], -78)
    assert line is not None
    transfer = pass_movement(line, CATALOG)
    assert (transfer.movement_type, transfer.from_location_id, transfer.to_location_id) == (
        "transfer", "LIV-WH", "LIV-LINE-B")
    out = decide_pass([identify(read("RDR-LIV-DOCK-03", PUMP_CASE), CATALOG)], -78)
    assert out is not None
    issue = pass_movement(out, CATALOG)
    assert (issue.movement_type, issue.from_location_id, issue.reference) == ("goods_issue", "LIV-FG", "SHP-5001")
    both = decide_pass([identify(read("RDR-MAN-DOCK-01", PUMP_CASE), CATALOG)], -78)  # a dock for both ways
    assert both is not None
    assert pass_movement(both, CATALOG).movement_type == "goods_issue"  # SHP-5003 leaves DC-MAN with pumps
    pallet_at_dc = decide_pass([identify(read("RDR-MAN-DOCK-01", PALLET), CATALOG)], -78)
    assert pallet_at_dc is not None
    receipt = pass_movement(pallet_at_dc, CATALOG)
    assert (receipt.movement_type, receipt.to_location_id) == ("goods_receipt", "MAN-WH")


def test_sessions_split_on_the_gap_are_decided_by_the_watermark_and_late_reads_are_dropped() -> None:
    sessions = GateSessions(gap=timedelta(seconds=10), lateness=timedelta(seconds=2), partitions=(0, 1),
                             idle_reads=8)
    line_b = [identify(read("RDR-LIV-LINE-B", BEARING_CASE, s), CATALOG) for s in (0, 3, 9, 25, 27)]
    for r in line_b:
        assert sessions.add(0, r)
    assert sessions.watermark is None  # partition 1 not heard from yet: it holds the watermark back
    assert sessions.decided() == []
    # Out of order from the other partition: still joins the first session (0, 3, 5, 9 | 25, 27).
    assert sessions.add(1, identify(read("RDR-LIV-LINE-A", BEARING_CASE, 5, rssi=-74), CATALOG))
    assert sessions.watermark == T0 + timedelta(seconds=3)  # the older partition's newest read - lateness
    assert sessions.decided() == []  # 9 + 10 s is not yet behind it
    assert sessions.add(1, identify(read("RDR-LIV-LINE-A", BEARING_CASE, 26, rssi=-74), CATALOG))
    first = sessions.decided()
    assert [[r.read.timestamp.second for r in s] for s in first] == [[0, 3, 5, 9]]
    late = identify(read("RDR-LIV-LINE-A", BEARING_CASE, 12, rssi=-74), CATALOG)
    assert sessions.add(1, late) is False  # behind the watermark (24 s): its session may be decided already
    # Partition 1 falls silent: after 8 reads of partition 0 it no longer holds the watermark back.
    other = [identify(read("RDR-LIV-LINE-B", PUMP_CASE, s), CATALOG) for s in range(40, 48)]
    for r in other[:6]:
        sessions.add(0, r)
    assert sessions.decided() == []  # held at 26 - 2 s by partition 1
    for r in other[6:]:
        sessions.add(0, r)
    assert [[r.read.timestamp.second for r in s] for s in sessions.decided()] == [[25, 26, 27]]
    assert [len(s) for s in sessions.close_all()] == [8]
    assert sessions.pending == {}


def test_the_watermark_waits_for_every_reader_of_the_scenario_and_heartbeats_move_it_on() -> None:
    # A flow that follows topics still empty when it started knows no partition with data (partitions=()).
    # Partition 0 is read a burst ahead: its heartbeats reach +60 s before partition 1's first read at +5 s.
    readers = frozenset({"RDR-LIV-LINE-A", "RDR-LIV-LINE-B"})
    for expect, late in ((frozenset(), True), (readers, False)):
        sessions = GateSessions(gap=timedelta(seconds=10), lateness=timedelta(seconds=2), readers=expect)
        assert sessions.add(0, identify(read("RDR-LIV-LINE-B", BEARING_CASE, 0), CATALOG))
        for s in range(10, 61, 10):
            sessions.heard(0, T0 + timedelta(seconds=s), "RDR-LIV-LINE-B")
        if expect:
            assert sessions.watermark is None  # RDR-LIV-LINE-A not heard from yet
        # without the readers to wait for, partition 1's read is behind a watermark made of partition 0 alone
        assert sessions.add(1, identify(read("RDR-LIV-LINE-A", PUMP_CASE, 5), CATALOG)) is (not late)
        sessions.heard(1, T0 + timedelta(seconds=60), "RDR-LIV-LINE-A")
        assert sessions.watermark == T0 + timedelta(seconds=58)  # both partitions at +60 s, less lateness
        decided = sessions.decided()
        assert [s[0].read.reader_id for s in decided] == (
            ["RDR-LIV-LINE-B"] if late else ["RDR-LIV-LINE-B", "RDR-LIV-LINE-A"])
        assert sessions.progress() == T0 + timedelta(seconds=58)


def test_a_reader_that_never_reports_holds_the_watermark_for_idle_reads_messages_at_most() -> None:
    sessions = GateSessions(gap=timedelta(seconds=10), lateness=timedelta(seconds=2), idle_reads=5,
                            readers=frozenset({"RDR-LIV-LINE-B", "RDR-LIV-DOCK-01"}))
    for s in range(4):
        sessions.heard(0, T0 + timedelta(seconds=s), "RDR-LIV-LINE-B")
    assert sessions.watermark is None
    sessions.heard(0, T0 + timedelta(seconds=4), "RDR-LIV-LINE-B")
    assert sessions.watermark == T0 + timedelta(seconds=2)
