"""Webhook delivery throughput and latency to a local ERP receiver.

Setup: a fresh database on ``MILLSTREAM_DATABASE__URL``'s server, a receiver in its own process on
127.0.0.1, N records over K record keys in the outbox. Two receivers, one after the other: ``erp`` = the
ERP receiver simulator (it verifies every signature with ``standardwebhooks`` and parses every CloudEvent
with ``cloudevents``), ``null`` = a bare HTTP/1.1 responder (what the dispatcher can do by itself).

Measured:
- **baseline**: the same signed requests posted by a bare aiohttp ``ClientSession`` (the dispatcher's HTTP
  client) at the same concurrency, in this process, no database — the ceiling of this client + receiver
  pair on this machine;
- **burst**: ``Dispatcher.run`` (as ``millstream dispatch``) until the whole outbox is delivered —
  deliveries/s (and the ratio to the baseline), p50/p95 request latency from the attempt log;
- **steady**: records appended at ``BENCH_WEBHOOK_STEADY_RATE`` per second by another process (as the
  pipelines do) while the dispatcher runs — p50/p95 end-to-end latency from the append's commit to the
  end of the delivering request.

Everything runs on uvloop, as ``millstream dispatch`` does. The machine is shared: note its load average
with the figures. Environment: ``BENCH_WEBHOOK_RECORDS``, ``_KEYS``, ``_PARALLEL``, ``_STEADY_RATE`` (0: no
steady phase), ``_STEADY_SECONDS``, ``_RECEIVERS`` (``erp,null``).

Goal (issue 5): >= 2,000 deliveries/s and p95 < 50 ms.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import httpx
import orjson
import psycopg
import uvloop

from bench.databases import fresh_database
from connectors.erp.dispatcher import Dispatcher
from connectors.erp.models import WebhookEndpointCreate
from connectors.erp.outbox import append_many
from connectors.erp.signing import generate_secret, secret_key
from connectors.erp.subscriptions import create_endpoint
from connectors.erp.webhook_request import signed_request
from connectors.postgres.database import connect
from connectors.postgres.migrations import migrate
from millstream.events.erp import ErpRecord
from millstream.settings import load_settings

__all__ = ["main"]

RECORDS = int(os.environ.get("BENCH_WEBHOOK_RECORDS", "6000"))
KEYS = int(os.environ.get("BENCH_WEBHOOK_KEYS", "600"))
PARALLEL = int(os.environ.get("BENCH_WEBHOOK_PARALLEL", "16"))
STEADY_RATE = float(os.environ.get("BENCH_WEBHOOK_STEADY_RATE", "1000"))
STEADY_SECONDS = float(os.environ.get("BENCH_WEBHOOK_STEADY_SECONDS", "4"))
RECEIVERS = os.environ.get("BENCH_WEBHOOK_RECEIVERS", "erp,null").split(",")


def _records(n: int, keys: int, start: datetime) -> list[ErpRecord]:
    run = uuid.uuid4().hex[:6]
    return [ErpRecord.model_validate(
        {"subject_kind": "shipment", "subject_id": f"SHP-{run}-{i % keys}",
         "occurred_at": start + timedelta(milliseconds=i), "record_type": "shipment.eta_update",
         "record_key": f"SHP-{run}-{i % keys}", "erp_keys": {"shipment_number": f"SHP-{run}-{i % keys}"},
         "payload": {"eta": (start + timedelta(hours=2)).isoformat(), "delay_min": i % 30}},
        context={"time_policy": None}) for i in range(n)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) >= 2 else (values or [0.0])[0]


async def _baseline(url: str, secret: str, records: list[ErpRecord]) -> tuple[float, list[float]]:
    keys = [secret_key(secret)]
    requests = [signed_request(r.model_dump(mode="json"), "structured", keys) for r in records]
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(PARALLEL)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=PARALLEL)) as session:

        async def post(headers: dict[str, str], body: bytes) -> None:
            async with semaphore:
                t = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                latencies.append((time.perf_counter() - t) * 1000)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(post(h, b) for h, b in requests))
        elapsed = time.perf_counter() - started
    return len(requests) / elapsed, latencies


def _append_steadily(database_url: str) -> dict[str, float]:
    """Append STEADY_RATE records per second for STEADY_SECONDS (50 appends per second); when each was
    committed. Runs in a process of its own, as the pipelines do (``--steady-appender``)."""
    records = _records(int(STEADY_RATE * STEADY_SECONDS), KEYS, datetime.now(UTC))
    appended_at: dict[str, float] = {}
    batch = max(1, int(STEADY_RATE / 50))
    settings = load_settings(database={"url": database_url})
    with connect(settings.database, autocommit=True) as conn:
        started = time.perf_counter()
        for i in range(0, len(records), batch):
            chunk = records[i:i + batch]
            append_many(conn, chunk)
            now = time.time()
            appended_at.update((r.id, now) for r in chunk)
            delay = started + (i + batch) / STEADY_RATE - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    return appended_at


async def _steady(settings: Any, conn: psycopg.Connection[dict[str, Any]]) -> list[float]:
    """Records appended by another process at STEADY_RATE while the dispatcher runs; end-to-end latencies in
    ms, from the append's commit to the end of the delivering request (attempt log: ``attempted_at`` +
    ``latency_ms``)."""
    stop = asyncio.Event()
    async with Dispatcher(settings.database, settings.webhooks, batch_size=2000) as dispatcher:
        task = asyncio.create_task(dispatcher.run(stop, poll_interval_s=0.005))
        appender = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.bench_webhooks", "--steady-appender",
            settings.database.url.get_secret_value(), stdout=asyncio.subprocess.PIPE)
        out, _ = await appender.communicate()
        if appender.returncode != 0:
            msg = f"the steady appender failed (exit {appender.returncode})"
            raise RuntimeError(msg)
        appended_at: dict[str, float] = orjson.loads(out)
        ids = list(appended_at)
        rows: list[dict[str, Any]] = []
        for _ in range(600):
            rows = await asyncio.to_thread(lambda: conn.execute(
                "SELECT d.event_id, a.attempted_at, a.latency_ms FROM webhook_attempts a "
                "JOIN webhook_deliveries d ON d.id = a.delivery_id "
                "WHERE d.status = 'delivered' AND a.status_code BETWEEN 200 AND 299 AND d.event_id = ANY(%s)",
                (ids,)).fetchall())
            if len(rows) >= len(ids):
                break
            await asyncio.sleep(0.1)
        stop.set()
        await task
    return [(r["attempted_at"].timestamp() + r["latency_ms"] / 1000 - appended_at[r["event_id"]]) * 1000
            for r in rows]


def _run(coro: Any) -> Any:
    """Run on uvloop, as ``millstream dispatch`` does."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _scenario(server: str, base: str, secret: str, *, steady: bool) -> dict[str, float]:
    """Baseline, burst (and steady) against the receiver at ``base``."""
    with fresh_database(server) as url:
        settings = load_settings(database={"url": url}, webhooks={"max_parallel": PARALLEL})
        with connect(settings.database, autocommit=True) as conn:
            migrate(conn, settings.database)
            conn.commit()
            create_endpoint(conn, WebhookEndpointCreate.model_validate(
                {"url": base + "/webhooks", "secrets": [secret]}), allow_private_targets=True)
            baseline_rate, baseline_lat = _run(_baseline(base + "/webhooks", secret,
                                                         _records(RECORDS, KEYS, datetime.now(UTC))))
            records = _records(RECORDS, KEYS, datetime.now(UTC))
            t = time.perf_counter()
            append_many(conn, records)
            append_rate = len(records) / (time.perf_counter() - t)

            async def burst() -> tuple[Any, float]:
                """``Dispatcher.run`` (as ``millstream dispatch``) until every record is delivered."""
                stop = asyncio.Event()
                async with Dispatcher(settings.database, settings.webhooks, batch_size=2000) as d, \
                        await psycopg.AsyncConnection.connect(url, autocommit=True) as watch:
                    started = time.perf_counter()
                    task = asyncio.create_task(d.run(stop, poll_interval_s=0.05))
                    while True:
                        cur = await watch.execute(
                            "SELECT count(*) FROM webhook_deliveries WHERE status <> 'pending'")
                        row = await cur.fetchone()
                        if row is not None and row[0] >= len(records):
                            break
                        await asyncio.sleep(0.02)
                    elapsed = time.perf_counter() - started
                    stop.set()
                    return await task, elapsed

            report, elapsed = _run(burst())
            if report.delivered != len(records):
                msg = f"burst delivered {report.delivered} of {len(records)} (dead {report.dead})"
                raise RuntimeError(msg)
            rate = report.delivered / elapsed
            # ``run`` keeps counters only; the attempt log has every request's latency
            request_latencies = [r["latency_ms"] for r in conn.execute("SELECT latency_ms FROM webhook_attempts")]
            figures = {
                "baseline_requests_per_s": baseline_rate,
                "baseline_request_p95_ms": _pct(baseline_lat, 95),
                "outbox_appends_per_s": append_rate,
                "burst_deliveries_per_s": rate,
                "burst_vs_baseline": rate / baseline_rate,
                "burst_request_p50_ms": _pct(request_latencies, 50),
                "burst_request_p95_ms": _pct(request_latencies, 95),
            }
            if steady:
                latencies = _run(_steady(settings, conn))
                figures |= {"steady_rate_per_s": STEADY_RATE,
                            "steady_end_to_end_p50_ms": _pct(latencies, 50),
                            "steady_end_to_end_p95_ms": _pct(latencies, 95)}
    return figures


async def _null_receiver(port: int) -> None:
    """A minimal HTTP/1.1 responder (keep-alive, 204 to everything): the dispatcher's own ceiling."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                if head.startswith(b"GET /healthz"):
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                else:
                    writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def _start(args: list[str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, *args, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/healthz", timeout=0.5).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    msg = f"receiver {args} did not start on port {port}"
    raise RuntimeError(msg)


def main() -> dict[str, float]:
    server = load_settings().database.url.get_secret_value()
    secret = generate_secret()
    figures: dict[str, float] = {}
    for label, args in (
        ("erp", ["-m", "simulators.erp_receiver", "--secret", secret]),
        ("null", ["-m", "bench.bench_webhooks", "--null-receiver"]),
    ):
        if label not in RECEIVERS:
            continue
        proc, base = _start(args)
        try:
            measured = _scenario(server, base, secret, steady=STEADY_RATE > 0)
            figures |= {f"{label}_{k}": v for k, v in measured.items()}
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"records {RECORDS} over {KEYS} keys, {PARALLEL} parallel requests, receivers in their own process")
    print("erp = simulators.erp_receiver (verifies with standardwebhooks, parses with cloudevents); "
          "null = a bare HTTP/1.1 responder")
    for key, value in figures.items():
        print(f"  {key:34s} {value:10.2f}" if "vs" in key else f"  {key:34s} {value:10.1f}")
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--null-receiver"]:
        uvloop.run(_null_receiver(int(sys.argv[3])))
    elif sys.argv[1:2] == ["--steady-appender"]:
        sys.stdout.buffer.write(orjson.dumps(_append_steadily(sys.argv[2])))
    else:
        main()
