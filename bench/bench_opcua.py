"""OPC-UA source throughput against a bare asyncua client, and time from server restart to first value.

Setup: an asyncua server in its own process on 127.0.0.1 (so its CPU does not compete for the client's
GIL) with ``VARIABLES`` Double variables, every one rewritten with a new value as fast as the server can
(each write is a data change). Both clients subscribe to all variables with the same parameters
(publishing interval 100 ms, sampling interval 0, queue size 100).

Measured, in the same run against the same server:
- **bare**: an asyncua ``Client`` subscription in handler mode with a no-op handler (it only counts);
- **source**: the Millstream :class:`OpcuaSource` run by Bytewax (``run_main``) into a counting sink, each
  data change becoming a validated :class:`SensorReading` with a stable id;
- the ratio source / bare;
- **reconnect**: the server process is killed and restarted on the same port; the time from the new server
  being ready to the first reading through the source's session (median over ``RESTARTS``), with the
  default backoff settings.

Goal (issue 4): >= 5,000 data changes/s through the source and >= 70 % of the bare client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bytewax.operators as op
from asyncua import Client, Server, ua
from bytewax.dataflow import Dataflow
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from bytewax.testing import run_main

from connectors.opcua.config import ConnectorConfig, config_from_data
from connectors.opcua.session import EndpointSession
from connectors.opcua.source import OpcuaSource
from millstream.events import SensorReading
from millstream.settings import load_settings

__all__ = ["main", "serve"]

VARIABLES = int(os.environ.get("BENCH_OPCUA_VARIABLES", "200"))
SECONDS = float(os.environ.get("BENCH_OPCUA_SECONDS", "4"))
WARMUP = float(os.environ.get("BENCH_OPCUA_WARMUP", "2"))
RESTARTS = int(os.environ.get("BENCH_OPCUA_RESTARTS", "5"))
ROUNDS = int(os.environ.get("BENCH_OPCUA_ROUNDS", "5"))
PUBLISHING_MS = 100.0
QUEUE_SIZE = 100


def serve(port: int, variables: int) -> None:
    """The server process: announce ``ready`` on stdout, then rewrite every variable in a loop."""

    async def run() -> None:
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/bench")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace("urn:millstream:bench")
        folder = await server.nodes.objects.add_object(ua.NodeId("Bench", idx), "Bench")
        ids = [(await folder.add_variable(ua.NodeId(f"V{i}", idx), f"V{i}", 0.0)).nodeid for i in range(variables)]
        async with server:
            print("ready", flush=True)
            n = 0
            while True:
                n += 1
                value = ua.Variant(float(n), ua.VariantType.Double)
                now = datetime.now(UTC)
                for node_id in ids:
                    await server.write_attribute_value(node_id, ua.DataValue(value, SourceTimestamp=now,
                                                                             ServerTimestamp=now))
                await asyncio.sleep(0)

    asyncio.run(run())


class _Server:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"opc.tcp://127.0.0.1:{port}/bench"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> float:
        """Start and wait until it listens; returns the monotonic time it became ready."""
        code = f"from bench.bench_opcua import serve; serve({self.port}, {VARIABLES})"
        self.process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                                        cwd=Path(__file__).resolve().parents[1])
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            msg = f"bench server did not start: {line!r}"
            raise RuntimeError(msg)
        return time.monotonic()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(url: str) -> ConnectorConfig:
    nodes = [{"node_id": f"ns=2;s=V{i}", "machine_id": "BENCH", "tag": f"v{i}"} for i in range(VARIABLES)]
    return config_from_data({"endpoints": [{
        "name": "bench", "url": url, "security": {"policy": "None", "mode": "None", "allow_insecure": True},
        "subscription": {"publishing_interval_ms": PUBLISHING_MS, "sampling_interval_ms": 0,
                         "queue_size": QUEUE_SIZE},
        "nodes": nodes}]})


class _Counter:
    """Counts arrivals; a sampler thread records (time, count, process CPU time) every 0.25 s, and rate and
    CPU cost are taken between the samples after the warm-up and at the end of the window."""

    def __init__(self) -> None:
        self.count = 0
        self.marks: list[tuple[float, int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def add(self, n: int) -> None:
        self.count += n

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            self.marks.append((time.monotonic(), self.count, time.process_time()))

    def result(self, start: float, end: float) -> tuple[float, float]:
        """(data changes per second, CPU microseconds per data change) within [start, end]."""
        self._stop.set()
        self._thread.join()
        inside = [m for m in self.marks if start <= m[0] <= end]
        if len(inside) < 2:
            return 0.0, 0.0
        (t0, c0, p0), (t1, c1, p1) = inside[0], inside[-1]
        changes = c1 - c0
        return changes / (t1 - t0), ((p1 - p0) * 1e6 / changes if changes else 0.0)


async def _bare(url: str, counter: _Counter) -> None:
    class NoOp:
        def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
            counter.add(1)

    async with Client(url, timeout=10) as client:
        params = ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=PUBLISHING_MS, RequestedLifetimeCount=10_000,
            RequestedMaxKeepAliveCount=20, MaxNotificationsPerPublish=0, PublishingEnabled=True, Priority=0)
        sub = await client.create_subscription(params, NoOp())
        nodes = [client.get_node(f"ns=2;s=V{i}") for i in range(VARIABLES)]
        await sub.subscribe_data_change(nodes, queuesize=QUEUE_SIZE, sampling_interval=0)
        await asyncio.sleep(WARMUP + SECONDS)


def bench_bare(url: str) -> tuple[float, float]:
    counter = _Counter()
    start = time.monotonic()
    asyncio.run(_bare(url, counter))
    return counter.result(start + WARMUP, start + WARMUP + SECONDS)


class _CountingSink(DynamicSink[Any]):
    def __init__(self, counter: _Counter) -> None:
        self.counter = counter

    def build(self, step_id: str, worker_index: int, worker_count: int) -> StatelessSinkPartition[Any]:
        counter = self.counter

        class Part(StatelessSinkPartition[Any]):
            def write_batch(self, items: list[Any]) -> None:
                counter.add(sum(1 for item in items if isinstance(item, SensorReading)))

        return Part()


def bench_source(url: str, pki: Path) -> tuple[float, float]:
    counter = _Counter()
    settings = load_settings(opcua={"pki_dir": str(pki)})
    flow = Dataflow("bench_opcua")
    source = OpcuaSource(settings, _config(url), duration=timedelta(seconds=WARMUP + SECONDS))
    op.output("count", op.input("opcua", flow, source), _CountingSink(counter))
    start = time.monotonic()
    run_main(flow)
    return counter.result(start + WARMUP, start + WARMUP + SECONDS)


async def _bare_first_value(url: str) -> float:
    """A fresh bare client: connect, subscribe to every variable, first data change (seconds)."""
    start = time.monotonic()
    first = asyncio.get_running_loop().create_future()

    class First:
        def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
            if not first.done():
                first.set_result(time.monotonic())

    async with Client(url, timeout=10) as client:
        sub = await client.create_subscription(PUBLISHING_MS, First())
        await sub.subscribe_data_change([client.get_node(f"ns=2;s=V{i}") for i in range(VARIABLES)],
                                        queuesize=QUEUE_SIZE, sampling_interval=0)
        return await asyncio.wait_for(first, 30) - start


def bench_reconnect(server: _Server, pki: Path) -> tuple[list[float], list[float]]:
    """Per restart: ready -> first value through the reconnecting session; then, as the floor set by this
    server, a fresh bare client's connect + subscribe -> first value."""
    settings = load_settings(opcua={"pki_dir": str(pki)})
    source = OpcuaSource(settings, _config(server.url))
    session: EndpointSession = source.session(source.config.endpoints[0])
    session.start()
    times: list[float] = []
    fresh: list[float] = []
    try:
        _wait_for_reading(session, 30)
        for _ in range(RESTARTS):
            server.kill()
            time.sleep(1.0)
            session.drain(10**9)
            ready = server.start()
            _wait_for_reading(session, 60)
            times.append(time.monotonic() - ready)
            fresh.append(asyncio.run(_bare_first_value(server.url)))
    finally:
        session.stop()
    return times, fresh


def _wait_for_reading(session: EndpointSession, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(isinstance(item, SensorReading) for item in session.drain(10**9)):
            return
        time.sleep(0.002)
    msg = "no reading after restart"
    raise RuntimeError(msg)


def main() -> dict[str, float]:
    logging.getLogger("asyncua").setLevel(logging.ERROR)
    logging.getLogger("connectors.opcua").setLevel(logging.ERROR)
    server = _Server(_free_port())
    server.start()
    rounds: list[tuple[float, float, float, float]] = []
    try:
        with tempfile.TemporaryDirectory() as pki:
            for n in range(ROUNDS):  # alternate the order so that drift in machine load hits both alike
                if n % 2 == 0:
                    bare, bare_cpu = bench_bare(server.url)
                    source, source_cpu = bench_source(server.url, Path(pki))
                else:
                    source, source_cpu = bench_source(server.url, Path(pki))
                    bare, bare_cpu = bench_bare(server.url)
                rounds.append((bare, bare_cpu, source, source_cpu))
            restarts, fresh = bench_reconnect(server, Path(pki))
    finally:
        server.kill()
    bare, bare_cpu, source, source_cpu = (statistics.median(r[i] for r in rounds) for i in range(4))
    ratio = statistics.median(r[2] / r[0] for r in rounds if r[0])
    result = {"bare_changes_per_s": bare, "source_changes_per_s": source, "ratio": ratio,
              "bare_cpu_us_per_change": bare_cpu, "source_cpu_us_per_change": source_cpu,
              "restart_to_first_value_median_s": statistics.median(restarts),
              "restart_to_first_value_max_s": max(restarts),
              "fresh_bare_connect_to_first_value_median_s": statistics.median(fresh)}
    for i, (b, _, src, _) in enumerate(rounds, start=1):
        print(f"round {i}: bare {b:8,.0f}/s  source {src:8,.0f}/s  ({src / b if b else 0:.0%})")
    print(f"variables={VARIABLES} window={SECONDS:.0f}s x {ROUNDS} rounds, publishing={PUBLISHING_MS:.0f}ms "
          "(server in its own process); medians:")
    print(f"bare asyncua client (no-op handler): {bare:8,.0f} data changes/s, {bare_cpu:5.1f} us CPU/change "
          f"(one core would sustain ~{1e6 / bare_cpu if bare_cpu else 0:,.0f}/s)")
    print(f"Millstream OpcuaSource via Bytewax:  {source:8,.0f} data changes/s, {source_cpu:5.1f} us CPU/change "
          f"(one core would sustain ~{1e6 / source_cpu if source_cpu else 0:,.0f}/s)")
    print(f"source / bare (median of rounds):    {ratio:.0%}")
    print(f"server restart -> first value:       median {result['restart_to_first_value_median_s']:.2f} s, "
          f"max {result['restart_to_first_value_max_s']:.2f} s; each: "
          f"{', '.join(f'{t:.2f}' for t in restarts)} (server down 1 s, default backoff 0.5 s .. 30 s)")
    print(f"fresh bare client connect -> value:  median {result['fresh_bare_connect_to_first_value_median_s']:.2f} s "
          f"(the floor on this server: session + {VARIABLES} monitored items + first publish)")
    print(f"goal >= 5,000/s and >= 70% of bare: {'met' if source >= 5000 and ratio >= 0.7 else 'NOT met'}"
          " (when both clients get what the server produces, the server is the ceiling: see CPU/change)")
    return result


if __name__ == "__main__":
    main()
