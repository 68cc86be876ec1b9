"""The webhook dispatcher: outbox -> deliveries -> signed CloudEvents over HTTP, with retries.

One round (:meth:`Dispatcher.run_once`):

1. **fan out** new outbox records to every enabled endpoint whose event-type filter matches (one delivery
   per endpoint and record, in outbox order);
2. **pick** the due deliveries: pending, endpoint enabled, ``next_attempt_at <= now``, and no earlier
   delivery of the same endpoint + record key still waiting for a retry (a later update waits for an
   earlier one);
3. **send** them: deliveries of one endpoint + record key one after another in outbox order (a failure
   stops that chain), different keys in parallel up to ``max_parallel`` requests;
4. **record** every attempt (status, latency, response excerpt or error) and each delivery's new state in
   one transaction: ``delivered`` on 2xx; on 410 the endpoint is disabled and its deliveries wait; otherwise
   the next attempt is scheduled (:class:`RetryPolicy`, or the server's ``Retry-After`` on 429/503) and
   after the last one the delivery is ``dead`` (visible in the API, replayable).

With ``kafka`` settings the dispatcher also publishes every fanned-out record to ``erp.events`` (key: its
event id) before the fan-out commits: at-least-once, consumers dedupe on the stable id.

Scheduling uses the injected :class:`Clock`, so tests move time forward instead of sleeping. The
``webhook-timestamp`` is the wall clock, because receivers check it against theirs. One dispatcher per
database (a PostgreSQL advisory lock) keeps per-key ordering simple and strict.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
from prometheus_client import Counter, Histogram
from psycopg.rows import dict_row

from connectors.erp.clock import Clock, SystemClock
from connectors.erp.models import ErpError, WebhookEndpoint
from connectors.erp.queue import AttemptResult, due_deliveries, enabled_endpoints, fan_out, record_attempts
from connectors.erp.retry import RetryPolicy, parse_retry_after
from connectors.erp.webhook_request import USER_AGENT, read_excerpt, signed_request
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import ERP_EVENTS
from millstream.settings import DatabaseSettings, KafkaSettings, WebhookSettings

__all__ = ["DispatchReport", "Dispatcher", "DispatcherBusyError"]

logger = logging.getLogger(__name__)

WEBHOOK_ATTEMPTS = Counter(
    "millstream_webhook_attempts_total", "Webhook delivery attempts by outcome.", ["outcome"])
WEBHOOK_LATENCY = Histogram(
    "millstream_webhook_latency_seconds", "Webhook request latency (request sent -> response read).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15))

_LOCK_KEY = 0x77686B73  # "whks"
#: httpx's connection pool slows down sharply with many connections in one client (encode/httpx#3215), so
#: the dispatcher spreads its ``max_parallel`` connections over several small clients.
_CONNECTIONS_PER_CLIENT = 4
#: ``run`` starts a new round at most this often while deliveries are in flight ...
_MIN_ROUND_S = 0.02
#: ... and keeps at most this many chains per allowed parallel request waiting.
_MAX_CHAINS_PER_REQUEST = 8

class DispatcherBusyError(ErpError):
    """Another dispatcher already delivers from this database."""


@dataclass
class DispatchReport:
    """Counts of one or more rounds."""

    fanned_out: int = 0
    attempts: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    disabled_endpoints: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    def count(self, results: list[AttemptResult], disabled: list[str]) -> None:
        """Add recorded attempts."""
        self.attempts += len(results)
        self.delivered += sum(r.outcome == "delivered" for r in results)
        self.retried += sum(r.outcome in ("retry", "gone") for r in results)
        self.dead += sum(r.outcome == "dead" for r in results)
        self.disabled_endpoints += disabled
        self.latencies_ms += [r.latency_ms for r in results]

    def add(self, other: DispatchReport) -> None:
        self.fanned_out += other.fanned_out
        self.attempts += other.attempts
        self.delivered += other.delivered
        self.retried += other.retried
        self.dead += other.dead
        self.disabled_endpoints += other.disabled_endpoints
        self.latencies_ms += other.latencies_ms


@dataclass
class _Flight:
    """Chains on their way: keys in flight, finished attempts not yet recorded, endpoints that said 410."""

    semaphore: asyncio.Semaphore
    busy: set[tuple[str, str]] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    results: list[AttemptResult] = field(default_factory=list)
    finished: list[tuple[str, str]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    launched: int = 0


class Dispatcher:
    """Delivers the outbox to webhook endpoints. Use as ``async with Dispatcher(...) as d: await d.run()``."""

    def __init__(
        self,
        database: DatabaseSettings,
        webhooks: WebhookSettings,
        *,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        batch_size: int = 1000,
        transport: httpx.AsyncBaseTransport | None = None,
        kafka: KafkaSettings | None = None,
    ) -> None:
        self._database = database
        self._webhooks = webhooks
        self.clock = clock or SystemClock()
        self.policy = policy or RetryPolicy()
        self._batch_size = batch_size
        self._transport = transport
        self._conn: psycopg.AsyncConnection[dict[str, Any]] | None = None
        self._clients: list[httpx.AsyncClient] = []
        self._endpoints: dict[str, WebhookEndpoint] = {}
        self._kafka = kafka
        self._producer: EventProducer | None = None

    async def __aenter__(self) -> Dispatcher:
        self._conn = await psycopg.AsyncConnection.connect(
            self._database.url.get_secret_value(), autocommit=True, row_factory=dict_row, connect_timeout=10)
        row = await (await self._conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (_LOCK_KEY,))).fetchone()
        if not row or not row["ok"]:
            await self._conn.close()
            msg = "another webhook dispatcher is already running on this database"
            raise DispatcherBusyError(msg)
        per_client = min(_CONNECTIONS_PER_CLIENT, self._webhooks.max_parallel)
        limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
        self._clients = [
            httpx.AsyncClient(timeout=self._webhooks.timeout_s, limits=limits, transport=self._transport,
                              follow_redirects=False, headers={"user-agent": USER_AGENT})
            for _ in range(max(1, self._webhooks.max_parallel // per_client))
        ]
        if self._kafka is not None:
            self._producer = EventProducer(self._kafka)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients = []
        if self._producer is not None:
            await asyncio.to_thread(self._producer.flush, 10.0)
        if self._conn is not None:
            await self._conn.close()

    @property
    def conn(self) -> psycopg.AsyncConnection[dict[str, Any]]:
        if self._conn is None:
            msg = "the dispatcher is not open; use `async with Dispatcher(...)`"
            raise ErpError(msg)
        return self._conn

    async def run(self, stop: asyncio.Event | None = None, poll_interval_s: float = 0.25) -> DispatchReport:
        """Deliver until ``stop`` is set. Unlike :meth:`run_once` it does not wait for a whole batch: as soon
        as chains finish their results are recorded, their keys released and more due deliveries started.
        Waits up to ``poll_interval_s`` for new records when nothing is in flight."""
        stop = stop or asyncio.Event()
        total = DispatchReport()
        flight = _Flight(asyncio.Semaphore(self._webhooks.max_parallel))
        endpoints_loaded = 0.0
        while not stop.is_set():
            round_started = time.monotonic()
            try:
                report = DispatchReport()
                now = self.clock.now()
                report.fanned_out = await self.fan_out(now)
                await self._flush(flight, report)
                if report.fanned_out or flight.gone or time.monotonic() - endpoints_loaded > 1.0:
                    await self._load_endpoints()
                    endpoints_loaded = time.monotonic()
                    flight.gone.clear()  # recorded by the flush above: disabled endpoints are not loaded
                started = 0
                if len(flight.tasks) < _MAX_CHAINS_PER_REQUEST * self._webhooks.max_parallel:
                    started = await self._launch(now, flight)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                logger.error("webhook dispatcher lost the database: %s; reconnecting", exc)
                await self._reconnect()
                continue
            except (psycopg.Error, ErpError) as exc:  # never let one bad round stop delivery
                logger.error("webhook dispatcher round failed: %s: %s", type(exc).__name__, exc)
                await asyncio.sleep(poll_interval_s)
                continue
            total.add(report)
            flight.wake.clear()
            if flight.tasks:
                waiter = asyncio.create_task(flight.wake.wait())
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait({waiter, stopper}, timeout=poll_interval_s, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                # gather a few finished chains per round: each round costs a few queries
                await asyncio.sleep(max(0.0, _MIN_ROUND_S - (time.monotonic() - round_started)))
            elif not (started or report.fanned_out or report.attempts):
                try:
                    await asyncio.wait_for(stop.wait(), poll_interval_s)
                except TimeoutError:
                    pass
        if flight.tasks:
            await asyncio.gather(*flight.tasks)
        final = DispatchReport()
        await self._flush(flight, final)
        total.add(final)
        return total

    async def run_until_idle(self, max_rounds: int = 1000) -> DispatchReport:
        """Rounds until one finds nothing to fan out or send (tests, ``--once``)."""
        total = DispatchReport()
        for _ in range(max_rounds):
            report = await self.run_once()
            total.add(report)
            if report.attempts == 0 and report.fanned_out == 0:
                break
        return total

    async def run_once(self) -> DispatchReport:
        """One round: fan out, pick what is due, send it all, record the results."""
        report = DispatchReport()
        now = self.clock.now()
        report.fanned_out = await self.fan_out(now)
        await self._load_endpoints()
        flight = _Flight(asyncio.Semaphore(self._webhooks.max_parallel))
        await self._launch(now, flight)
        if flight.tasks:
            await asyncio.gather(*flight.tasks)
        await self._flush(flight, report)
        return report

    async def fan_out(self, now: datetime | None = None) -> int:
        """Create deliveries for new outbox records; returns how many records were fanned out."""
        publish = self._publish if self._producer is not None else None
        return await fan_out(self.conn, now or self.clock.now(), publish)

    async def _publish(self, records: list[tuple[str, dict[str, Any]]]) -> None:
        """Put fanned-out records on ``erp.events`` (key: the event id) before their fan-out commits."""
        producer = self._producer
        assert producer is not None
        failed = producer.failed
        for event_id, record in records:
            producer.send_raw(ERP_EVENTS, orjson.dumps(record), key=event_id.encode())
        queued = await asyncio.to_thread(producer.flush, self._webhooks.timeout_s)
        if queued or producer.failed > failed:
            msg = f"could not publish {len(records)} ERP records to {ERP_EVENTS.name}; fan-out will be retried"
            raise ErpError(msg)

    async def _launch(self, now: datetime, flight: _Flight) -> int:
        """Start a task per endpoint + record key with due deliveries (keys in flight excluded)."""
        rows = await due_deliveries(self.conn, now, self._batch_size, flight.busy)
        chains: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            chains[(row["endpoint_id"], row["record_key"])].append(row)
        for key, chain in chains.items():
            flight.busy.add(key)
            client = self._clients[flight.launched % len(self._clients)]
            flight.launched += 1
            task = asyncio.create_task(self._send_chain(key, chain, client, flight))
            flight.tasks.add(task)
            task.add_done_callback(flight.tasks.discard)
        return len(rows)

    async def _flush(self, flight: _Flight, report: DispatchReport) -> None:
        """Record finished attempts, then release their keys (never before: no delivery is sent twice)."""
        if not flight.results and not flight.finished:
            return
        results, finished = list(flight.results), list(flight.finished)
        if results:
            gone = await record_attempts(self.conn, results)  # if this fails, both stay for the next flush
            report.count(results, gone)
        del flight.results[:len(results)]
        del flight.finished[:len(finished)]
        flight.busy.difference_update(finished)

    async def _reconnect(self) -> None:
        await asyncio.sleep(1.0)
        try:
            if self._conn is not None:
                await self._conn.close()
            self._conn = await psycopg.AsyncConnection.connect(
                self._database.url.get_secret_value(), autocommit=True, row_factory=dict_row, connect_timeout=10)
            row = await (await self._conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (_LOCK_KEY,))).fetchone()
            if not row or not row["ok"]:
                logger.error("webhook dispatcher: another dispatcher took over the database lock")
        except psycopg.Error as exc:
            logger.error("webhook dispatcher cannot reconnect: %s", exc)

    async def _load_endpoints(self) -> None:
        self._endpoints = await enabled_endpoints(self.conn)

    async def _send_chain(self, key: tuple[str, str], chain: list[dict[str, Any]], client: httpx.AsyncClient,
                          flight: _Flight) -> None:
        try:
            for row in chain:
                endpoint = self._endpoints.get(row["endpoint_id"])
                if endpoint is None or endpoint.id in flight.gone:
                    return
                async with flight.semaphore:
                    result = await self._attempt(client, endpoint, row)
                flight.results.append(result)
                if result.outcome == "gone":
                    flight.gone.add(endpoint.id)
                if result.outcome != "delivered":
                    return
        finally:
            flight.finished.append(key)
            flight.wake.set()

    async def _attempt(self, client: httpx.AsyncClient, endpoint: WebhookEndpoint, row: dict[str, Any]
                       ) -> AttemptResult:
        attempt = row["attempts"] + 1
        attempted_at = self.clock.now()
        headers, body = signed_request(row["record"], endpoint.content_mode, endpoint.signing_keys())
        status: int | None = None
        error: str | None = None
        excerpt = ""
        retry_after: timedelta | None = None
        started = time.perf_counter()
        try:
            async with client.stream("POST", endpoint.url, content=body, headers=headers) as response:
                status = response.status_code
                if status in (429, 503):
                    retry_after = parse_retry_after(response.headers.get("retry-after"), attempted_at)
                excerpt = (await read_excerpt(response)).decode("utf-8", "replace")
        except httpx.TimeoutException:
            error = f"timeout after {self._webhooks.timeout_s:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        latency_ms = (time.perf_counter() - started) * 1000
        WEBHOOK_LATENCY.observe(latency_ms / 1000)
        outcome, next_at = self._next(status, attempt, attempted_at, retry_after)
        WEBHOOK_ATTEMPTS.labels(outcome).inc()
        if outcome != "delivered":
            logger.warning("webhook %s to endpoint %s (%s) attempt %s: %s -> %s", row["event_id"], endpoint.id,
                           endpoint.url, attempt, status if status is not None else error, outcome)
        return AttemptResult(row["id"], endpoint.id, row["event_id"], attempt, attempted_at, status, latency_ms,
                             error, excerpt, outcome, next_at)

    def _next(self, status: int | None, attempt: int, now: datetime, retry_after: timedelta | None
              ) -> tuple[str, datetime]:
        if status is not None and 200 <= status < 300:
            return "delivered", now
        if status == 410:
            return "gone", now
        delay = self.policy.delay_after(attempt)
        if delay is None:
            return "dead", now
        if retry_after is not None:
            delay = self.policy.honoured_retry_after(retry_after)
        return "retry", now + delay
