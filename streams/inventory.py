"""Inventory dataflow: part counters and RFID gate reads -> stock movements -> the ledger, alerts, ERP, EPCIS.

- ``telemetry.readings`` (``good_parts``, ``scrap_parts``, ``active_order`` and, where the PLC has them, the
  active order's own counts ``order_good_parts``, ``order_scrap_parts``), keyed by machine ->
  :class:`~millstream.inventory.counters.CounterTracker` -> production deltas -> backflush and finished-goods
  movements (:mod:`millstream.inventory.backflush`) and production confirmations to the ERP outbox;
- ``warehouse.rfid`` -> decode and look up (:func:`~millstream.inventory.gates.identify`), then one stateful
  step for the gate stream -> sessions of a tag's reads closer than ``dedup_window_s`` in event time, decided
  when the stream's event-time watermark has passed them (``late_wait_s`` is its allowed lateness;
  :class:`~millstream.inventory.sessions.GateSessions`; no wall clock, so a replay splits alike) -> one gate
  pass per session, strays from the neighbouring door dropped (:func:`~millstream.inventory.gates.decide_pass`)
  -> receipt, transfer or goods issue, and a ``gate_events`` row (EPCIS);
- the master data's opening stock as ``opening`` movements;
- every movement, keyed by material (one worker per material), with each source's progress (the counter
  step and the gate step say how far they have read, in the same stream as their movements) -> the
  material's movements in event-time order (:class:`~millstream.inventory.ordering.MovementOrder`: each
  waits until the gate stream and the machines that make or use the material have read past it; with
  ``follow`` at most ``inventory.order_wait_s`` behind the newest source) -> running stock per location
  and effective reorder points -> the ``reorder_point`` and ``negative_stock`` alerts (shared lifecycle);
  then the ledger (:func:`connectors.postgres.ledger.apply_movements`), which writes each movement's ERP
  record, stock exceptions and reorder proposals in the same transaction.

Bad input (invalid EPCs, unknown readers or machines, EPCs mapped to no material, implausible counter jumps,
production for an unknown order) becomes dead letters with the reason; the flow goes on. Run it with
``millstream inventory``.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from functools import partial
from typing import Any, cast

import bytewax.operators as op
import orjson
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.operators import StatefulBatchLogic, StatefulLogic

from connectors.erp.sink import OutboxSink
from connectors.kafka.admin import partitions_with_data
from connectors.kafka.topics import TELEMETRY_READINGS, WAREHOUSE_RFID
from connectors.postgres.gate_events import store_gate_events
from connectors.postgres.ledger import LedgerEntry, apply_movements
from connectors.postgres.sink import PostgresSink
from connectors.postgres.timeseries import store_dead_letters
from millstream.events import DeadLetter, ReaderHeartbeat, RfidRead, SensorReading
from millstream.events.erp import ErpRecord
from millstream.inventory.backflush import production_movements
from millstream.inventory.catalog import GATE_SOURCE, OPENING_SOURCE, Catalog, machine_source
from millstream.inventory.counters import COUNTER_TAGS, CounterProblem, CounterTracker, ProductionDelta
from millstream.inventory.erp import confirmation_record
from millstream.inventory.gates import (
    GatePass,
    GateRead,
    GateReadError,
    decide_pass,
    identify,
    pass_movement,
)
from millstream.inventory.movements import Movement, opening_movements
from millstream.inventory.ordering import DONE, MovementOrder, Progress
from millstream.inventory.rules import NEGATIVE_STOCK_RULE, REORDER_RULE, stock_conditions
from millstream.inventory.sessions import GateSessions
from millstream.inventory.stock import MaterialStock, StockSample, reorder_levels
from millstream.masterdata import Scenario
from millstream.metrics import PRODUCED_PARTS, RFID_READS_DROPPED, STOCK_MOVEMENTS
from millstream.serde import encode
from millstream.settings import InventorySettings, Settings
from streams.alerting import raise_alerts, write_alerts
from streams.kafka_io import DlqPublisher, read_events, write_dead_letters
from streams.operators import split_dead_letters

__all__ = ["build_flow", "gate_passes"]

#: RFID messages per partition per poll: keeps the partitions close in event time while catching up, well
#: within ``inventory.late_wait_s`` (the watermark's allowed lateness).
_RFID_BATCH = 100
_STRAY, _DUPLICATE, _LATE = (RFID_READS_DROPPED.labels(r) for r in ("stray", "duplicate", "late"))
#: A source reports its progress at least this often in event time (and with every movement it brings).
_PROGRESS_EVERY = timedelta(seconds=30)


class _ListPartition(StatefulSourcePartition[Movement | Progress, int]):
    def __init__(self, items: list[Movement | Progress], resume: int | None) -> None:
        self._items = items
        self._next = resume or 0

    def next_batch(self) -> list[Movement | Progress]:
        if self._next >= len(self._items):
            raise StopIteration
        batch = self._items[self._next:]
        self._next = len(self._items)
        return batch

    def snapshot(self) -> int:
        return self._next


class _OpeningSource(FixedPartitionedSource[Movement | Progress, int]):
    """The opening movements, once, then the opening source's end for every material (the position is part of
    the recovery state)."""

    def __init__(self, items: list[Movement], catalog: Catalog) -> None:
        self._items: list[Movement | Progress] = [*items, *(
            Progress(m, OPENING_SOURCE, DONE) for m in catalog.materials_of(OPENING_SOURCE))]

    def list_parts(self) -> list[str]:
        return ["opening"]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _ListPartition:
        return _ListPartition(self._items, resume_state)


_Counted = ProductionDelta | CounterProblem | Progress


class _CounterLogic(StatefulLogic[SensorReading, _Counted, CounterTracker]):
    """One machine's counters -> production deltas, each followed by the machine's progress (the time of its
    newest reading: its next delta is at that time or later), reported at least every ``_PROGRESS_EVERY``."""

    def __init__(self, catalog: Catalog, tracker: CounterTracker) -> None:
        self._catalog = catalog
        self._tracker = tracker
        self._told: Any = None

    def on_item(self, value: SensorReading) -> tuple[list[_Counted], bool]:
        machine = self._catalog.machines.get(value.machine_id)
        if value.tag not in COUNTER_TAGS:  # a sensor signal: only the machine's clock
            if machine is None:
                return [], False  # the maintenance flow reports unknown machines' signals
            done: list[_Counted] = list(self._tracker.tick(value.source_timestamp, machine, self._catalog.orders))
            if done and self._tracker.scan_at is not None:
                done.append(Progress("", machine_source(machine.id), self._tracker.scan_at))
                self._told = self._tracker.scan_at
            return done, False
        if machine is None:
            return [CounterProblem(value.machine_id, value.source_timestamp, "unknown_machine",
                                   f"machine {value.machine_id!r} is not in the master data", (value,))], False
        out: list[_Counted] = list(self._tracker.push(value, machine, self._catalog.orders))
        at = self._tracker.scan_at
        if at is not None and (out or self._told is None or at - self._told >= _PROGRESS_EVERY):
            out.append(Progress("", machine_source(machine.id), at))
            self._told = at
        return out, False

    def on_eof(self) -> tuple[list[_Counted], bool]:
        key_reading = self._tracker.scan[0] if self._tracker.scan else None
        if key_reading is None:
            return [], False
        machine = self._catalog.machines[key_reading.machine_id]
        return list(self._tracker.flush(machine, self._catalog.orders)), False  # the stock step's end orders them

    def snapshot(self) -> CounterTracker:
        return copy.deepcopy(self._tracker)


def _problem_letter(problem: CounterProblem) -> DeadLetter:
    raw = orjson.dumps([orjson.loads(encode(r)) for r in problem.readings])
    return DeadLetter.of(raw, stage="inventory.counters", reason=problem.reason, error_type=problem.error_type)


def _for_materials(progress: Progress, catalog: Catalog) -> list[Progress]:
    """A source's progress, for each material whose movements it can bring."""
    return [Progress(m, progress.source, progress.at) for m in catalog.materials_of(progress.source)]


def _production(flow: Dataflow, settings: Settings, catalog: Catalog, follow: bool,
                ) -> tuple[Stream[Movement | Progress], Stream[ErpRecord], Stream[DeadLetter]]:
    readings = read_events("inventory_readings", flow, TELEMETRY_READINGS, settings, model=SensorReading,
                           tail=follow)
    keyed = op.key_on("by_machine", readings.oks, lambda r: r.machine_id)  # counters, and signals as a clock
    modulus = settings.inventory.counter_modulus
    results = op.stateful("count_parts", keyed, lambda resume: _CounterLogic(
        catalog, resume if resume is not None else CounterTracker(modulus=modulus)))
    branch = op.branch("deltas", op.map("unkey_counts", results, lambda kv: kv[1]),
                       lambda item: not isinstance(item, CounterProblem))
    produced = cast(Stream[ProductionDelta | Progress], branch.trues)  # deltas and progress, in order
    problems = op.map("counter_letters", cast(Stream[CounterProblem], branch.falses), _problem_letter)

    def moved(item: ProductionDelta | Progress) -> list[Movement | Progress]:
        if isinstance(item, Progress):
            return list(_for_materials(item, catalog))
        PRODUCED_PARTS.labels(item.machine_id, "good").inc(item.good)
        PRODUCED_PARTS.labels(item.machine_id, "scrap").inc(item.scrap)
        return list(production_movements(item, catalog))

    movements = op.flat_map("backflush", produced, moved)
    deltas = cast(Stream[ProductionDelta], op.filter("deltas_only", produced,
                                                     lambda item: isinstance(item, ProductionDelta)))
    confirmations = op.map("confirm", deltas, lambda d: confirmation_record(d, catalog.orders[d.order_id].product_id))
    return movements, confirmations, op.merge("production_errs", readings.errs, problems)


_Heard = GateRead | ReaderHeartbeat


def _identify(catalog: Catalog) -> Any:
    def attempt(item: tuple[int, RfidRead | ReaderHeartbeat]) -> tuple[int, _Heard] | DeadLetter:
        partition, read = item
        if isinstance(read, ReaderHeartbeat):
            return partition, read  # moves the partition's event time on, nothing to identify
        try:
            return partition, identify(read, catalog)
        except GateReadError as exc:
            return DeadLetter.of(encode(read), stage="inventory.gates", reason=str(exc), error_type=exc.error_type)
    return attempt


_Moved = tuple[GatePass, Movement]


def _gates(flow: Dataflow, settings: Settings, catalog: Catalog, follow: bool,
           ) -> tuple[Stream[_Moved], Stream[Movement | Progress], Stream[DeadLetter]]:
    """RFID reads -> (gate pass, movement) pairs, and the gate stream's movements with its progress in order."""
    reads = read_events("inventory_rfid", flow, WAREHOUSE_RFID, settings, model=RfidRead, tail=follow,
                        batch_size=_RFID_BATCH, tag=lambda msg, read: (msg.partition or 0, read))
    tagged = cast(Stream[tuple[int, RfidRead | ReaderHeartbeat]], reads.oks)
    identified = split_dead_letters("identify", op.map("identify_reads", tagged, _identify(catalog)))
    passes = _gate_stream(identified.oks, settings.inventory, partitions_with_data(settings.kafka, WAREHOUSE_RFID),
                          frozenset(catalog.readers))

    def to_movement(item: GatePass | Progress) -> _Moved | Progress | DeadLetter:
        if isinstance(item, Progress):
            return item
        try:
            return item, pass_movement(item, catalog)
        except GateReadError as exc:
            return DeadLetter.of(item.epc, stage="inventory.gates", reason=str(exc), error_type=exc.error_type)

    moved = split_dead_letters("gate_movements", op.map("pass_movements", passes, to_movement))
    ordered = cast(Stream[_Moved | Progress], moved.oks)
    pairs = cast(Stream[_Moved], op.filter("gate_pairs", ordered, lambda item: not isinstance(item, Progress)))
    def gate_movement(item: _Moved | Progress) -> list[Movement | Progress]:
        return list(_for_materials(item, catalog)) if isinstance(item, Progress) else [item[1]]

    movements = op.flat_map("gate_movement", ordered, gate_movement)
    return pairs, movements, op.merge("gate_errs", reads.errs, identified.errs, moved.errs)


def _gate_stream(reads: Stream[tuple[int, _Heard]], params: InventorySettings,
                 partitions: tuple[int, ...], readers: frozenset[str] = frozenset()) -> Stream[GatePass | Progress]:
    keyed = op.key_on("gate_stream", reads, lambda _item: "gates")
    gap, lateness = timedelta(seconds=params.dedup_window_s), timedelta(seconds=params.late_wait_s)
    decided = op.stateful_batch("passes", keyed, lambda resume: _PassLogic(
        resume or GateSessions(gap, lateness, partitions, readers=readers), params.min_rssi_dbm))
    return op.map("unkey_passes", decided, lambda kv: kv[1])


def gate_passes(reads: Stream[tuple[int, _Heard]], params: InventorySettings,
                partitions: tuple[int, ...]) -> Stream[GatePass]:
    """Identified reads and reader heartbeats, each with the input partition it came from -> gate passes,
    decided in event time;
    ``partitions``: those with reads to come (each holds the watermark back until heard from).

    All reads go through one stateful step (one key for the gate stream), so every decision sees the stream's
    watermark (:class:`~millstream.inventory.sessions.GateSessions`); the per-read work (validation, EPC decode,
    look-up) stays parallel before it. (The flow also takes the stream's progress from that step.)"""
    return cast(Stream[GatePass], op.filter("passes_only", _gate_stream(reads, params, partitions),
                                            lambda item: isinstance(item, GatePass)))


class _PassLogic(StatefulBatchLogic[tuple[int, _Heard], GatePass | Progress, GateSessions]):
    """The gate stream's reads -> gate passes: a tag's session is decided when the event-time watermark has
    passed it (never by the wall clock), or at the end of input. After each batch, the stream's progress when
    it moved (:meth:`~millstream.inventory.sessions.GateSessions.progress`)."""

    def __init__(self, sessions: GateSessions, min_rssi_dbm: float) -> None:
        self._sessions = sessions
        self._min_rssi = min_rssi_dbm
        self._told: Any = None

    def _progress(self) -> list[Progress]:
        at = self._sessions.progress()
        if at is None or (self._told is not None and at <= self._told):
            return []
        self._told = at
        return [Progress("", GATE_SOURCE, at)]

    def _decide(self, sessions: list[list[GateRead]]) -> list[GatePass]:
        out = []
        for reads in sessions:
            gate = decide_pass(reads, self._min_rssi)
            if gate is None:
                _STRAY.inc(len(reads))
                continue
            _STRAY.inc(gate.stray_reads)
            _DUPLICATE.inc(gate.reads - 1)
            out.append(gate)
        return out

    def on_batch(self, values: list[tuple[int, _Heard]]) -> tuple[list[GatePass | Progress], bool]:
        add, heard = self._sessions.add, self._sessions.heard
        late = 0
        for partition, item in values:
            if isinstance(item, ReaderHeartbeat):
                heard(partition, item.timestamp, item.reader_id)
            elif not add(partition, item):
                late += 1
        if late:
            _LATE.inc(late)
        return [*self._decide(self._sessions.decided()), *self._progress()], StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[list[GatePass | Progress], bool]:
        return list[GatePass | Progress](self._decide(self._sessions.close_all())), StatefulBatchLogic.RETAIN

    def snapshot(self) -> GateSessions:
        return copy.deepcopy(self._sessions)


def _track_stock(state: MaterialStock | None, movement: Movement) -> tuple[MaterialStock, tuple[Movement,
                                                                                               list[StockSample]]]:
    state = state or MaterialStock()
    STOCK_MOVEMENTS.labels(movement.movement_type).inc()
    return state, (movement, state.apply(movement))


_Tracked = tuple[Movement, list[StockSample]]


_StockState = tuple[MovementOrder | None, MaterialStock]


class _StockLogic(StatefulLogic[Movement | Progress, _Tracked, _StockState]):
    """One material: its movements and its sources' progress -> the movements in event-time order
    (:class:`~millstream.inventory.ordering.MovementOrder`, made at the material's first item), each with the
    stock samples it makes."""

    def __init__(self, catalog: Catalog, wait: timedelta | None, state: _StockState | None) -> None:
        self._catalog = catalog
        self._wait = wait
        if isinstance(state, MaterialStock):  # a snapshot from before the stock step ordered movements
            state = (None, state)
        order, self._stock = state or (None, MaterialStock())
        self._order_state = order

    def _order(self, material_id: str) -> MovementOrder:
        if self._order_state is None:
            self._order_state = MovementOrder(self._catalog.sources_of(material_id), self._wait)
        return self._order_state

    def _track(self, movements: list[Movement]) -> list[_Tracked]:
        out = []
        for movement in movements:
            STOCK_MOVEMENTS.labels(movement.movement_type).inc()
            out.append((movement, self._stock.apply(movement)))
        return out

    def on_item(self, value: Movement | Progress) -> tuple[list[_Tracked], bool]:
        order = self._order(value.material_id)
        if isinstance(value, Progress):
            return self._track(order.advance(value.source, value.at)), False
        return self._track(order.add(value)), False

    def on_eof(self) -> tuple[list[_Tracked], bool]:
        return self._track(self._order_state.flush() if self._order_state else []), False

    def snapshot(self) -> _StockState:
        return (self._order_state.copy() if self._order_state else None, self._stock.copy())


def _ledger_entry(catalog: Catalog) -> Any:
    def entry(tracked: tuple[Movement, list[StockSample]]) -> LedgerEntry:
        movement, samples = tracked
        points = []
        for sample in samples:
            policy = catalog.policies.get((sample.material_id, sample.location_id))
            if policy is not None:
                points.append((sample.location_id, reorder_levels(sample, policy).reorder_point))
        return LedgerEntry(movement, tuple(points))
    return entry


def build_flow(settings: Settings, scenario: Scenario, *, follow: bool = True) -> Dataflow:
    """The inventory dataflow over ``scenario``'s master data; ``follow=False`` stops at the topics' end."""
    catalog = Catalog(scenario)
    db = settings.database
    publish = DlqPublisher(settings)
    flow = Dataflow("inventory")
    produced, confirmations, production_errs = _production(flow, settings, catalog, follow)
    gate_moves, gate_movements, gate_errs = _gates(flow, settings, catalog, follow)
    opening = op.input("opening_stock", flow, _OpeningSource(opening_movements(scenario), catalog))
    movements = op.merge("movements", opening, produced, gate_movements)

    wait = timedelta(seconds=settings.inventory.order_wait_s) if follow else None
    keyed = op.stateful("stock", op.key_on("by_material", movements, lambda m: m.material_id),
                        lambda resume: _StockLogic(catalog, wait, resume))
    tracked = op.map("unkey_stock", keyed, lambda kv: kv[1])
    ledger = partial(apply_movements, policies=catalog.policies)
    op.output("ledger", op.map("ledger_entry", tracked, _ledger_entry(catalog)),
              PostgresSink(db, ledger, "movements", publish=publish))
    op.output("gate_events", gate_moves, PostgresSink(db, store_gate_events, "gate events", publish=publish))

    conditions = op.flat_map("conditions", op.flat_map("samples", tracked, lambda t: t[1]),
                             stock_conditions(catalog))
    split = op.branch("condition_kind", conditions, lambda kc: kc[0] == "reorder")
    reorder_alerts = raise_alerts("reorder_alerts", op.map("reorder_c", split.trues, lambda kc: kc[1]), REORDER_RULE)
    negative_alerts = raise_alerts("negative_alerts", op.map("negative_c", split.falses, lambda kc: kc[1]),
                                   NEGATIVE_STOCK_RULE)
    write_alerts("alerts", op.merge("all_alerts", reorder_alerts, negative_alerts), settings)
    op.output("erp", confirmations, OutboxSink(db))

    rejected = op.merge("rejected", production_errs, gate_errs)
    write_dead_letters("dlq", rejected, settings)
    op.output("store_dead_letters", rejected,
              PostgresSink(db, store_dead_letters, "dead letters", keep_rejects=False))
    return flow
