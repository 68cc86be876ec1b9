"""Inventory throughput: the ledger, RFID decode + dedup, and the ledger writer against raw PostgreSQL.

Input: the demo plant's simulator output (``simulators.plant`` counters and ``simulators.gates`` reads, seed 3)
turned into stock movements by the pipeline's own functions. Each figure is measured in this process, in the
same run as its baseline, on a fresh database of ``MILLSTREAM_DATABASE__URL``'s server:

- **ledger flow**: the flow's movement path (key by material -> stock tracker -> effective reorder points ->
  :func:`connectors.postgres.ledger.apply_movements` through the ``PostgresSink``), movements/s, vs a **bare
  Bytewax flow** on the same movements (same source, key by material, a no-op sink) and vs a bare flow whose
  sink COPYs the same rows into a table (the cheapest durable write);
- **RFID**: reads/s from the wire format through validation, EPC decode + look-up, per-tag sessions and the
  pass decision in event time (the flow's own :func:`streams.inventory.gate_passes`), vs a bare Bytewax flow
  on the same payloads (validation, key by EPC, no-op sink);
- **sink**: ``apply_movements`` (idempotent insert, FIFO lots, allocations, outbox postings in one transaction
  per batch) vs raw ``COPY FROM STDIN`` and vs ``executemany`` INSERT of the same movement rows (one row per
  movement), and vs raw ``COPY`` of every row the ledger writes (movements, allocations, ERP postings, lots:
  3-4 rows per movement) into tables without indexes.

Goals (issue 11): ledger and RFID >= 50 % of their bare flows; the sink >= 70 % of raw COPY. The machine is
shared: its load average is printed with the figures. ``BENCH_INVENTORY_BATCH`` sets the source batch size.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import bytewax.operators as op
import psycopg
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import TestingSource, run_main
from psycopg.rows import tuple_row

from bench.databases import fresh_database
from connectors.postgres.ledger import MOVEMENT_COLUMNS, apply_movements, movement_row
from connectors.postgres.migrations import migrate
from connectors.postgres.sink import PostgresSink
from millstream.events import RfidRead
from millstream.inventory import gates
from millstream.inventory.backflush import production_movements
from millstream.inventory.catalog import Catalog
from millstream.inventory.counters import COUNTER_TAGS, CounterTracker, ProductionDelta
from millstream.inventory.gates import decide_pass, identify, pass_movement
from millstream.inventory.movements import Movement, opening_movements
from millstream.masterdata import Scenario, read_scenario
from millstream.serde import decode, encode
from millstream.settings import DatabaseSettings, InventorySettings, load_settings
from simulators.gates.simulation import GateSimulation
from simulators.plant.readings import changed_readings
from simulators.plant.simulation import PlantSimulation
from streams.inventory import _ledger_entry, _track_stock, gate_passes

__all__ = ["main"]

BATCH = int(os.environ.get("BENCH_INVENTORY_BATCH", "1000"))


class _NullPartition(StatelessSinkPartition[Any]):
    def write_batch(self, items: list[Any]) -> None:
        pass


class NullSink(DynamicSink[Any]):
    def build(self, step_id: str, worker_index: int, worker_count: int) -> _NullPartition:
        return _NullPartition()


def simulator_input(scenario: Scenario) -> tuple[list[Movement], list[RfidRead]]:
    start = (datetime.now(UTC) - timedelta(hours=9)).replace(microsecond=0)
    scenario = scenario.rebased(start)
    catalog = Catalog(scenario)
    plant = PlantSimulation(scenario, seed=3)
    trackers: dict[str, CounterTracker] = defaultdict(CounterTracker)
    movements = opening_movements(scenario)
    for reading in changed_readings(plant, start, 10.0, int(8.5 * 360), COUNTER_TAGS):
        machine = catalog.machines[reading.machine_id]
        for delta in trackers[reading.machine_id].push(reading, machine, catalog.orders):
            if isinstance(delta, ProductionDelta):
                movements += production_movements(delta, catalog)
    reads = [e.event for e in GateSimulation(scenario, seed=3).timeline() if isinstance(e.event, RfidRead)]
    by_epc: dict[str, list[Any]] = defaultdict(list)
    for read in reads:
        by_epc[read.epc].append(identify(read, catalog))
    for gate_reads in by_epc.values():
        gate = decide_pass(gate_reads, -78.0)
        if gate is not None:
            movements.append(pass_movement(gate, catalog))
    movements.sort(key=lambda m: (m.occurred_at, m.id))
    return movements, reads


@contextmanager
def migrated_database() -> Iterator[DatabaseSettings]:
    with fresh_database(load_settings().database.url.get_secret_value()) as url:
        settings = load_settings(database={"url": url})
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn, settings.database)
        yield settings.database


def timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _copy_rows(conn: psycopg.Connection[Any], movements: list[Movement]) -> int:
    with conn.transaction(), conn.cursor() as cur, cur.copy(
            f"COPY bench_rows ({', '.join(MOVEMENT_COLUMNS)}) FROM STDIN") as copy:
        for m in movements:
            copy.write_row(movement_row(m))
    return len(movements)


def ledger_flows(movements: list[Movement], catalog: Catalog) -> dict[str, float]:
    def bare() -> None:
        flow = Dataflow("bare_movements")
        keyed = op.key_on("by_material", op.input("in", flow, TestingSource(movements, BATCH)),
                          lambda m: m.material_id)
        op.output("out", keyed, NullSink())
        run_main(flow)

    with migrated_database() as db:
        with psycopg.connect(db.url.get_secret_value(), autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_rows (LIKE stock_movements INCLUDING DEFAULTS)")

        def bare_copy() -> None:
            flow = Dataflow("bare_copy")
            keyed = op.key_on("by_material", op.input("in", flow, TestingSource(movements, BATCH)),
                              lambda m: m.material_id)
            op.output("out", op.map("unkey", keyed, lambda kv: kv[1]), PostgresSink(db, _copy_rows, "rows"))
            run_main(flow)

        def ledger() -> None:
            flow = Dataflow("ledger")
            keyed = op.key_on("by_material", op.input("in", flow, TestingSource(movements, BATCH)),
                              lambda m: m.material_id)
            tracked = op.map("unkey", op.stateful_map("stock", keyed, _track_stock), lambda kv: kv[1])
            write = partial(apply_movements, policies=catalog.policies)
            op.output("ledger", op.map("entry", tracked, _ledger_entry(catalog)),
                      PostgresSink(db, write, "movements"))
            run_main(flow)

        return {"bare": timed(bare), "bare_copy": timed(bare_copy), "ledger": timed(ledger)}


def rfid_flows(reads: list[RfidRead], catalog: Catalog) -> dict[str, float]:
    payloads = [encode(r) for r in reads]  # both flows start from the wire format, as from Kafka

    def bare() -> None:
        flow = Dataflow("bare_rfid")
        decoded = op.map("decode", op.input("in", flow, TestingSource(payloads, BATCH)),
                         lambda raw: decode(raw, RfidRead, time_policy=None))
        op.output("out", op.key_on("by_epc", decoded, lambda r: r.epc), NullSink())
        run_main(flow)

    def decode_dedup() -> None:
        flow = Dataflow("rfid")
        decoded = op.map("decode", op.input("in", flow, TestingSource(payloads, BATCH)),
                         lambda raw: decode(raw, RfidRead, time_policy=None))
        identified = op.map("identify", decoded, lambda r: (0, identify(r, catalog)))
        op.output("out", gate_passes(identified, InventorySettings(), partitions=(0,)), NullSink())
        run_main(flow)

    gates._decode.cache_clear()  # decoding is measured cold, not from simulator_input's warm cache
    return {"bare": timed(bare), "decode_dedup": timed(decode_dedup)}


def sink_writers(movements: list[Movement], catalog: Catalog) -> dict[str, float]:
    batches = [movements[i:i + BATCH] for i in range(0, len(movements), BATCH)]
    results = {}
    with migrated_database() as db:
        with psycopg.connect(db.url.get_secret_value(), autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_rows (LIKE stock_movements INCLUDING DEFAULTS)")
            conn.execute("CREATE TABLE bench_many (LIKE stock_movements INCLUDING DEFAULTS INCLUDING INDEXES)")

            def copy() -> None:
                for batch in batches:
                    _copy_rows(conn, batch)

            insert = (f"INSERT INTO bench_many ({', '.join(MOVEMENT_COLUMNS)}) VALUES "
                      f"({', '.join(['%s'] * len(MOVEMENT_COLUMNS))}) ON CONFLICT (movement_id) DO NOTHING")

            def many() -> None:
                for batch in batches:
                    with conn.transaction(), conn.cursor() as cur:
                        cur.executemany(insert, [movement_row(m) for m in batch])

            def ledger() -> None:
                for batch in batches:
                    apply_movements(conn, batch, catalog.policies)

            results = {"copy": timed(copy), "executemany": timed(many), "ledger": timed(ledger)}
            results["copy_all"], results["rows"] = _copy_all_rows(conn, batches)
    return results


#: Per table the ledger writes: the query of its rows, each led by the movement it belongs to.
_WRITTEN = {
    "stock_movements": "SELECT movement_id, * FROM stock_movements",
    "movement_lots": "SELECT movement_id, * FROM movement_lots",
    "erp_outbox": "SELECT record->'payload'->>'movement_id', seq, event_id, record_type, record_key, subject_kind, "
                  "subject_id, occurred_at, erp_keys::text, record::text, created_at, fanned_out_at FROM erp_outbox",
}


def _copy_all_rows(conn: psycopg.Connection[Any], batches: list[list[Movement]]) -> tuple[float, int]:
    """Raw ``COPY`` of every row the ledger wrote (movements, lot allocations, ERP postings; then the lots), batch
    by batch into tables without indexes: what the ledger's writes cost with no logic and no constraints."""
    written: dict[str, dict[str | None, list[tuple[Any, ...]]]] = {}
    for table, query in _WRITTEN.items():
        conn.execute(f"CREATE TABLE bench_{table} (LIKE {table})")
        written[table] = defaultdict(list)
        for row in conn.cursor(row_factory=tuple_row).execute(query).fetchall():
            written[table][row[0]].append(row[1:])
    conn.execute("CREATE TABLE bench_stock_lots (LIKE stock_lots)")
    lots = conn.cursor(row_factory=tuple_row).execute("SELECT * FROM stock_lots").fetchall()
    started = time.perf_counter()
    for batch in batches:
        with conn.transaction(), conn.cursor() as cur:
            for table, rows in written.items():
                with cur.copy(f"COPY bench_{table} FROM STDIN") as copy:
                    for m in batch:
                        for row in rows.get(m.id, ()):
                            copy.write_row(row)
    with conn.transaction(), conn.cursor() as cur, cur.copy("COPY bench_stock_lots FROM STDIN") as copy:
        for row in lots:
            copy.write_row(row)
    elapsed = time.perf_counter() - started
    return elapsed, sum(len(r) for rows in written.values() for r in rows.values()) + len(lots)


def main() -> None:
    scenario = read_scenario("scenarios/demo.yaml")
    movements, reads = simulator_input(scenario)
    catalog = Catalog(scenario.rebased(datetime.now(UTC)))
    print(f"input: {len(movements)} movements, {len(reads)} RFID reads (demo plant, seed 3); batch {BATCH}; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    n = len(movements)
    flows = ledger_flows(movements, catalog)
    print(f"ledger flow: {n / flows['ledger']:,.0f} movements/s; bare Bytewax flow {n / flows['bare']:,.0f}/s "
          f"(ratio {flows['bare'] / flows['ledger']:.1%}); bare flow + COPY sink {n / flows['bare_copy']:,.0f}/s "
          f"(ratio {flows['bare_copy'] / flows['ledger']:.1%})", flush=True)
    rfid = rfid_flows(reads, catalog)
    m = len(reads)
    print(f"RFID decode + dedup: {m / rfid['decode_dedup']:,.0f} reads/s; bare Bytewax flow {m / rfid['bare']:,.0f}/s "
          f"(ratio {rfid['bare'] / rfid['decode_dedup']:.1%})", flush=True)
    sinks = sink_writers(movements, catalog)
    print(f"ledger writer: {n / sinks['ledger']:,.0f} movements/s; raw COPY {n / sinks['copy']:,.0f} rows/s "
          f"(ratio {sinks['copy'] / sinks['ledger']:.1%}); executemany {n / sinks['executemany']:,.0f} rows/s "
          f"(ratio {sinks['executemany'] / sinks['ledger']:.1%}); load average {os.getloadavg()[0]:.2f}", flush=True)
    print(f"ledger writer vs raw COPY of all {sinks['rows']:,.0f} rows it writes (movements, allocations, postings, "
          f"lots; no indexes): {sinks['copy_all']:.2f} s vs {sinks['ledger']:.2f} s "
          f"(ratio {sinks['copy_all'] / sinks['ledger']:.1%})", flush=True)
