"""``millstream simulate plant|fleet|gates``: play the scenario's world in simulated time, with ground truth.

``--speed X`` runs simulated time X times faster than the wall clock; ``--duration S`` stops after S
wall-clock seconds (default: until the scenario is played out, or SIGINT/SIGTERM). Timestamps are simulated
time; the scenario is put on the run's timeline by the rule of :mod:`simulators.clock` (its
``simulation.start`` happens now, or at ``MILLSTREAM_CLOCK__ORIGIN`` when ``millstream up`` runs it, whose
clock ``MILLSTREAM_CLOCK__*`` every simulator then shares). Kafka records carry the simulated "now" as their
timestamp. A live progress line shows simulated time and counts.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.live import Live
from rich.text import Text

from cli.common import EXIT_UNAVAILABLE, console, fail, require, settings
from connectors.kafka.admin import KafkaAdminError, create_topics
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import FLEET_GPS, WAREHOUSE_RFID, Topic
from connectors.postgres.ground_truth import GroundTruthWriter
from millstream.clock import process_clock
from millstream.errors import MillstreamError
from millstream.events.base import Event, utc_now
from millstream.masterdata import Scenario, read_scenario
from simulators.clock import SimClock, run_scenario
from simulators.config import check_speed, simulation_config
from simulators.fleet.osmand import OsmandSender
from simulators.fleet.simulation import FleetSimulation
from simulators.gates.simulation import GateSimulation
from simulators.groundtruth import GroundTruth
from simulators.plant.offline import run_to_failure, write_histories
from simulators.plant.server import PlantServer
from simulators.timeline import Emission, PlayStats, play

__all__ = ["app"]

app = typer.Typer(help="Simulators: OPC-UA plant, GPS fleet, RFID gates.", no_args_is_help=True)

DEFAULT_SCENARIO = Path("scenarios/demo.yaml")
ScenarioOpt = typer.Option(DEFAULT_SCENARIO, "--scenario", help="Scenario file (.yaml, .yml or .json).")
SeedOpt = typer.Option(0, "--seed", help="Random seed: the same seed plays the same world.")
SpeedOpt = typer.Option(None, "--speed", help="Simulated seconds per wall-clock second "
                        "(default: MILLSTREAM_CLOCK__SPEED, 1).")
SinceOpt = typer.Option(None, "--since", help="Replay the timeline from this simulated instant (ISO 8601): "
                        "what lies before the clock's now is sent at once (the sinks drop repeats by id).")
DurationOpt = typer.Option(None, "--duration", help="Stop after this many wall-clock seconds.")
TruthOpt = typer.Option(None, "--ground-truth", help="Append ground-truth facts to this JSON-lines file.")
TruthDbOpt = typer.Option(False, "--ground-truth-db",
                          help="Also store the ground-truth facts in PostgreSQL (table ground_truth, idempotent).")


class _StoredTruth(GroundTruth):
    """Ground truth whose facts also go to PostgreSQL through a background writer (closed with it)."""

    def __init__(self, path: Path | None, writer: GroundTruthWriter) -> None:
        super().__init__(path, sinks=[writer.add])
        self.writer = writer

    def close(self) -> None:
        super().close()
        self.writer.close()


def _ground_truth(path: Path | None, to_db: bool, source: str, run: RunClock) -> GroundTruth:
    """The facts' destinations: the file (if any) and, with ``--ground-truth-db``, the database (exit 3 if down)."""
    if not to_db:
        return GroundTruth(path)
    config = settings()
    require(config, database=True)
    return _StoredTruth(path, GroundTruthWriter(config.database, source, run.origin.isoformat()))


def _scenario(path: Path, speed: float | None) -> tuple[Scenario, RunClock]:
    """The scenario (validated with its ``simulation:``) and the clock of this run."""
    try:
        scenario = read_scenario(path)
        simulation_config(scenario)
        clock = _run_clock(speed)
    except MillstreamError as exc:
        fail(str(exc))
    return scenario, clock


@dataclass(frozen=True)
class RunClock:
    """Where this process is on the run's timeline: ``origin`` (the scenario's simulation.start) and a clock
    that shows the run's now (shared with the other processes of a ``millstream up`` run)."""

    origin: datetime
    clock: SimClock

    @property
    def speed(self) -> float:
        return self.clock.speed


def _run_clock(speed: float | None) -> RunClock:
    shared = settings().clock
    factor = check_speed(shared.speed if speed is None else speed)
    if shared.start is not None:
        return RunClock(shared.origin or shared.start, SimClock(process_clock(shared).now(), factor))
    start = utc_now().replace(microsecond=0)
    return RunClock(start, SimClock(start, factor))


async def _until_stopped(stop: asyncio.Event, duration: float | None, status: Callable[[], str],
                         work: Awaitable[object]) -> None:
    """Run ``work`` with a live status line until it ends, ``duration`` passes or a signal arrives."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.ensure_future(work)
    deadline = None if duration is None else time.monotonic() + duration
    with Live(Text(status()), console=console, refresh_per_second=4, transient=False) as live:
        while not task.done() and not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            await asyncio.wait({task}, timeout=0.25)
            live.update(Text(status()))
        stop.set()
        await task
        live.update(Text(status()))
    console.print()


def _utc(instant: datetime | None) -> datetime | None:
    return instant if instant is None or instant.tzinfo else instant.replace(tzinfo=UTC)


@app.command("plant")
def plant_command(
    scenario_file: Path = ScenarioOpt, seed: int = SeedOpt, speed: float | None = SpeedOpt,
    duration: float | None = DurationOpt, ground_truth: Path | None = TruthOpt, ground_truth_db: bool = TruthDbOpt,
    port: int | None = typer.Option(None, "--port", help="TCP port (default: the scenario's endpoint port)."),
    offline: bool = typer.Option(False, "--offline", help="Write run-to-failure histories instead of serving."),
    units: int = typer.Option(100, "--units", help="--offline: number of machines run to failure."),
    out: Path | None = typer.Option(None, "--out", help="--offline: output file (.csv or JSON lines)."),
    kind: str = typer.Option("lathe", "--kind",
                             help="--offline: machine kind (lathe, mill, assembly; comma-separated: units of each)."),
    sample_s: float = typer.Option(60.0, "--sample-s", help="--offline: seconds between samples."),
) -> None:
    """Serve the scenario's machines over OPC UA (or generate run-to-failure histories with --offline)."""
    scenario, run = _scenario(scenario_file, speed)
    speed = run.speed
    if offline:
        if out is None:
            fail("--offline needs --out FILE")
        try:
            params = simulation_config(scenario).plant
            kinds = [k.strip() for k in kind.split(",") if k.strip()]
            rows = write_histories(itertools.chain.from_iterable(
                run_to_failure(units, seed, params, k, sample_s) for k in kinds), out)
        except MillstreamError as exc:
            fail(str(exc))
        console.print(f"wrote {rows} samples of {units * len(kinds)} run-to-failure histories to {out}")
        return
    truth = _ground_truth(ground_truth, ground_truth_db, "plant", run)

    async def serve() -> None:
        stop = asyncio.Event()
        try:
            server = PlantServer(scenario, port=port, seed=seed, speed=speed, truth=truth, start=run.clock.start,
                                 origin=run.origin, wall_start=run.clock.wall_start)
        except MillstreamError as exc:
            fail(str(exc))
        try:
            async with server as plant:
                def status() -> str:
                    states: dict[str, int] = {}
                    for sim in plant.simulation.machines.values():
                        states[sim.state] = states.get(sim.state, 0) + 1
                    summary = " ".join(f"{k}={v}" for k, v in sorted(states.items()))
                    return (f"plant {plant.endpoint} | sim {plant.sim_time:%Y-%m-%d %H:%M:%S} | x{speed:g} | "
                            f"{plant.value_changes} value changes | {summary} | {len(truth.facts)} facts")
                await _until_stopped(stop, duration, status, stop.wait())
        except OSError as exc:
            fail(f"cannot serve on {server.endpoint}: {exc.strerror or exc}", EXIT_UNAVAILABLE)

    try:
        asyncio.run(serve())
    finally:
        truth.close()


def _publish(kind: str, topic: Topic, timeline: Callable[[datetime], Iterable[Emission]], run: RunClock,
             duration: float | None, truth: GroundTruth, since: datetime | None,
             also: Callable[[Event], None] | None = None) -> PlayStats:
    config = settings()
    require(config, kafka=True)
    kafka = config.kafka
    try:
        create_topics(kafka, [topic], timeout_s=10.0, align_existing=False)  # it only has to exist
    except KafkaAdminError as exc:
        fail(str(exc), EXIT_UNAVAILABLE)
    producer = EventProducer(kafka)
    stats = PlayStats()
    clock, speed = run.clock, run.speed
    console.print(f"{kind}: publishing to {topic.full_name(kafka)} on Kafka {kafka.bootstrap_servers}, simulated "
                  f"time from {clock.start:%Y-%m-%d %H:%M:%S}Z at x{speed:g}", highlight=False)

    async def publish() -> None:
        stop = asyncio.Event()

        def status() -> str:
            now = max(clock.now(), stats.sim_time) if stats.sim_time else clock.now()
            sim = f"{now:%Y-%m-%d %H:%M:%S}"
            return (f"{kind} -> {topic.full_name(kafka)} | sim {sim} | x{speed:g} | {stats.events} sent, "
                    f"{producer.delivered} delivered, {producer.failed} failed | {stats.facts} facts")

        def send(event: Event) -> None:
            producer.send(topic, event, timestamp=clock.now())
            if also is not None:
                also(event)

        work = play(timeline(min(since, clock.start) if since else clock.start), clock, send, truth, stop,
                    stats=stats)
        await _until_stopped(stop, duration, status, work)

    try:
        asyncio.run(publish())
    finally:
        left = producer.flush(30)
        truth.close()
    if left or producer.failed:
        fail(f"{producer.failed} events failed and {left} are undelivered to {kafka.bootstrap_servers} "
             f"({topic.full_name(kafka)})", EXIT_UNAVAILABLE)
    return stats


@app.command("fleet")
def fleet_command(
    scenario_file: Path = ScenarioOpt, seed: int = SeedOpt, speed: float | None = SpeedOpt,
    duration: float | None = DurationOpt, ground_truth: Path | None = TruthOpt, ground_truth_db: bool = TruthDbOpt,
    days: int = typer.Option(1, "--days", help="Repeat the scenario's shipments on this many days."),
    since: datetime | None = SinceOpt,
    osmand_url: str | None = typer.Option(None, "--osmand-url",
                                          help="Also send every ping as an OsmAnd HTTP request to this URL."),
) -> None:
    """Drive the scenario's shipments and publish GPS pings to Kafka fleet.gps."""
    scenario, run = _scenario(scenario_file, speed)
    try:
        sim = FleetSimulation(run_scenario(scenario, run.origin), seed, days=days)
    except MillstreamError as exc:
        fail(str(exc))
    osmand = OsmandSender(osmand_url) if osmand_url else None
    try:
        stats = _publish("fleet", FLEET_GPS, sim.timeline, run, duration,
                         _ground_truth(ground_truth, ground_truth_db, "fleet", run), _utc(since),
                         osmand.send if osmand else None)  # type: ignore[arg-type]
    finally:
        if osmand is not None:
            osmand.close()
    console.print(f"fleet: {stats.events} pings published, {stats.facts} facts")
    if osmand is not None:
        console.print(f"osmand: {osmand.accepted} accepted, {osmand.failed} failed by {osmand_url}")
        if osmand.failed:
            fail(f"{osmand.failed} OsmAnd requests to {osmand_url} failed", EXIT_UNAVAILABLE)


@app.command("gates")
def gates_command(
    scenario_file: Path = ScenarioOpt, seed: int = SeedOpt, speed: float | None = SpeedOpt,
    duration: float | None = DurationOpt, ground_truth: Path | None = TruthOpt, ground_truth_db: bool = TruthDbOpt,
    since: datetime | None = SinceOpt,
) -> None:
    """Read the scenario's pallets and cases at RFID gates and publish the reads to Kafka warehouse.rfid."""
    scenario, run = _scenario(scenario_file, speed)
    try:
        sim = GateSimulation(run_scenario(scenario, run.origin), seed)
    except MillstreamError as exc:
        fail(str(exc))
    stats = _publish("gates", WAREHOUSE_RFID, sim.timeline, run, duration,
                     _ground_truth(ground_truth, ground_truth_db, "gates", run), _utc(since))
    console.print(f"gates: {stats.events} reads published, {stats.facts} facts")

