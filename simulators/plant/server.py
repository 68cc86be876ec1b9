"""The plant as a live OPC-UA server (asyncua), playing :class:`PlantSimulation` against simulated time.

Usage (tests and the CLI)::

    async with PlantServer(scenario, port=0, seed=7, speed=60) as plant:
        plant.endpoint                      # opc.tcp://127.0.0.1:<port>/millstream/plant
        await plant.set_status("CNC-01", "vibration_rms", ua.StatusCodes.BadSensorFailure)
        await plant.stop(); await plant.start()   # a restart on the same port (reconnect tests)

Each tick advances the simulation by ``speed / update_hz`` simulated seconds on a fixed grid from ``start``, so
the values are the same for a seed whatever the wall-clock jitter; changed values are written with their
simulated source timestamp. Given the run's ``origin`` (``millstream up``), the grid starts there: a server
started later (a resumed run) first plays the steps since the origin without serving them
(:meth:`~simulators.plant.simulation.PlantSimulation.catch_up`), so its machines are as worn as they were.
The server offers the ``None`` security policy only: it is a local simulator
(clients must be configured to allow insecure endpoints for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from asyncua import Server, ua

from millstream.events.base import utc_now
from millstream.masterdata import Scenario
from simulators.clock import SimClock, run_scenario
from simulators.config import PlantParameters, SimulationError, check_speed, simulation_config
from simulators.groundtruth import GroundTruth
from simulators.plant.address_space import NAMESPACE_URI, TagNode, build_address_space
from simulators.plant.simulation import PlantSimulation, require_machines

__all__ = ["PlantServer", "stop_server"]

logger = logging.getLogger(__name__)


def _endpoint_parts(scenario: Scenario) -> tuple[str, int, str]:
    require_machines(scenario)
    url = urlparse(scenario.machines[0].opcua.endpoint)
    for m in scenario.machines[1:]:
        if m.opcua.endpoint != scenario.machines[0].opcua.endpoint:
            msg = (f"machines[{m.id}].opcua.endpoint: {m.opcua.endpoint!r} differs from "
                   f"{scenario.machines[0].opcua.endpoint!r}; the simulated plant is one server")
            raise SimulationError(msg)
    return url.hostname or "127.0.0.1", url.port or 4840, url.path or "/"


async def stop_server(server: Server, timeout_s: float = 10.0, *, strict: bool = False) -> None:
    """Stop an asyncua server like a dying process: first no new connections, then every open connection
    closed, including ones accepted while stopping; bounded by ``timeout_s``.

    asyncua's ``Server.stop`` closes the open connections once, then waits for the listening socket, which
    waits for *every* connection to end: a client that reconnects within that window (a good client does,
    quickly) keeps it waiting forever.

    A stop that raises or does not finish in time (it is then cancelled and awaited) is logged as a warning;
    with ``strict`` (tests) it is raised instead: the exception of ``server.stop()``, or ``TimeoutError``."""
    listener = server.bserver._server if server.bserver is not None else None  # private: stop accepting first
    if listener is not None:
        listener.close()
    stopping = asyncio.ensure_future(server.stop())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not stopping.done():
        for transport in list(server.iserver.asyncio_transports):
            transport.close()
        await asyncio.wait({stopping}, timeout=0.05)
        if not stopping.done() and loop.time() > deadline:
            stopping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopping
            msg = f"OPC-UA server stop did not finish within {timeout_s:.0f} s; abandoned"
            if strict:
                raise TimeoutError(msg)
            logger.warning("%s", msg)
            return
    error = None if stopping.cancelled() else stopping.exception()
    if error is not None:
        if strict:
            raise error
        logger.warning("OPC-UA server stop raised %r", error)


class PlantServer:
    """An OPC-UA server whose variables follow the simulated machines of ``scenario``."""

    def __init__(self, scenario: Scenario, *, port: int | None = None, host: str = "127.0.0.1", seed: int = 0,
                 speed: float = 1.0, start: datetime | None = None, params: PlantParameters | None = None,
                 truth: GroundTruth | None = None, origin: datetime | None = None,
                 wall_start: float | None = None) -> None:
        _, default_port, self._path = _endpoint_parts(scenario)
        self.params = params or simulation_config(scenario).plant
        self.speed = check_speed(speed)
        self._host = host
        self._port = default_port if port is None else port
        self.start_time = start or utc_now()
        self._clock_start = self.start_time  # what the clock showed at wall_start (the grid may start earlier)
        # the scenario on the run's timeline (origin: where its simulation.start lies; default the start)
        self.simulation = PlantSimulation(run_scenario(scenario, origin or self.start_time), seed, self.params, truth)
        self.truth = self.simulation.truth
        self.dt_s = self.speed / self.params.update_hz
        if origin is not None and self.start_time > origin:
            # a run's plant is a function of its clock: play the past since the origin (a resumed run, or the
            # seconds before this process started) and continue on the same step grid
            self.start_time = self.simulation.catch_up(origin, self.start_time, self.dt_s)
        else:
            self.simulation.advance(self.start_time, 0.0)  # the state at the start instant, before the first tick
        self.clock: SimClock | None = None
        self._wall_start = wall_start  # a shared run clock: start showed at this wall instant
        self.ticks = 0
        self.value_changes = 0
        self._server: Server | None = None
        self._nodes: dict[tuple[str, str], TagNode] = {}
        self._written: dict[tuple[str, str], tuple[Any, int]] = {}
        self._overrides: dict[tuple[str, str], tuple[Any, int]] = {}
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self._host}:{self._port}{self._path}"

    @property
    def sim_time(self) -> datetime:
        return self.start_time + timedelta(seconds=self.ticks * self.dt_s)

    @property
    def running(self) -> bool:
        return self._server is not None

    def node_id(self, machine_id: str, tag: str) -> ua.NodeId:
        return self._tag(machine_id, tag).node_id

    def _tag(self, machine_id: str, tag: str) -> TagNode:
        try:
            return self._nodes[(machine_id, tag)]
        except KeyError:
            msg = f"no OPC-UA node for machine {machine_id!r} tag {tag!r}"
            raise SimulationError(msg) from None

    async def start(self) -> None:
        """Start serving (again) on the same port; values resume from the simulation's current state."""
        if self._server is not None:
            return
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("Millstream simulated plant")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        index = await server.register_namespace(NAMESPACE_URI)
        if index != 2:
            msg = f"namespace {NAMESPACE_URI} got index {index}, the scenario's NodeIds need 2"
            raise SimulationError(msg)
        nodes = await build_address_space(server, list(self.simulation.scenario.machines), index)
        self._nodes = {(n.machine_id, n.tag): n for n in nodes}
        self._written = {}
        await server.start()
        self._port = server.bserver.port if server.bserver is not None else self._port
        self._server = server
        await self._write_all()
        logger.info("simulated plant serving %s", self.endpoint)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving (clients lose their session); the simulation keeps running until :meth:`start`.
        Late connections cannot keep it waiting (see :func:`stop_server`)."""
        server, self._server = self._server, None
        if server is not None:
            await stop_server(server, timeout_s)
            logger.info("simulated plant stopped at %s", self.endpoint)

    async def __aenter__(self) -> PlantServer:
        await self.start()
        self.clock = SimClock(self._clock_start, self.speed, self._wall_start)
        self._loop_task = asyncio.create_task(self._run(), name="plant-simulation")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            try:
                await self._loop_task
            except asyncio.CancelledError:
                pass
            self._loop_task = None
        self.simulation.finish(self.sim_time)
        await self.stop()

    async def _run(self) -> None:
        assert self.clock is not None
        while True:
            await self.clock.sleep_until(self.sim_time + timedelta(seconds=self.dt_s))
            await self.tick()

    async def tick(self) -> None:
        """Advance the simulation one step and publish what changed (also usable without the timer loop)."""
        self.ticks += 1
        self.simulation.advance(self.sim_time, self.dt_s)
        await self._write_all()

    async def _write_all(self) -> None:
        if self._server is None:
            return
        now = self.sim_time
        for machine_id, sim in self.simulation.machines.items():
            values = sim.values()
            for tag, value in values.items():
                key = (machine_id, tag)
                if key in self._nodes:
                    forced = self._overrides.get(key)
                    await self._write(key, *(forced if forced is not None else (value, 0)), now)

    async def _write(self, key: tuple[str, str], value: Any, status: int, now: datetime) -> None:
        if self._written.get(key) == (value, status) or self._server is None:
            return
        node = self._nodes[key]
        bad = (status >> 30) & 0b11 >= 2
        variant = ua.Variant() if bad else ua.Variant(value, node.variant)
        data = ua.DataValue(variant, ua.StatusCode(status), SourceTimestamp=now, ServerTimestamp=now)
        await self._server.write_attribute_value(node.node_id, data)
        self._written[key] = (value, status)
        self.value_changes += 1

    async def set_status(self, machine_id: str, tag: str, status: int) -> None:
        """Publish ``tag`` of ``machine_id`` with OPC-UA ``status`` (bad: no value) until :meth:`clear`."""
        key = (machine_id, tag)
        self._tag(machine_id, tag)
        value = self.simulation.machines[machine_id].values().get(tag)
        self._overrides[key] = (value, int(status))
        await self._write(key, value, int(status), self.sim_time)

    async def set_value(self, machine_id: str, tag: str, value: Any, status: int = 0) -> None:
        """Publish a forced ``value`` for ``tag`` of ``machine_id`` until :meth:`clear`."""
        key = (machine_id, tag)
        self._tag(machine_id, tag)
        self._overrides[key] = (value, int(status))
        await self._write(key, value, int(status), self.sim_time)

    async def clear(self, machine_id: str, tag: str) -> None:
        """Let ``tag`` follow the simulation again."""
        self._overrides.pop((machine_id, tag), None)
        self._written.pop((machine_id, tag), None)
        await self._write_all()
