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
event id) before the fan-out commits: at-least-once, consumers dedupe on the stable id. An outbox record
that is not a valid ERP record is sent to ``dlq`` (stage ``erp.outbox``), logged, counted and left fanned
out without deliveries: the rest of its batch goes on.

Scheduling uses the injected :class:`Clock`, so tests move time forward instead of sleeping. The
``webhook-timestamp`` is the wall clock, because receivers check it against theirs. One dispatcher per
database (a PostgreSQL advisory lock) keeps per-key ordering simple and strict; the lock belongs to the
database session, so after a reconnect :meth:`Dispatcher.run` takes it again before any more work, and
stops with :class:`DispatcherBusyError` if another dispatcher took it meanwhile.

``run`` keeps only counters (its report has no latency samples: the ``millstream_webhook_latency_seconds``
histogram and the attempt log have them); :meth:`Dispatcher.run_once` reports each attempt's latency.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads

from connectors.erp.clock import Clock, SystemClock
from connectors.erp.http_client import WebhookClient
from connectors.erp.models import ErpError, WebhookEndpoint
from connectors.erp.queue import AttemptResult, due_deliveries, enabled_endpoints, fan_out, record_attempts
from connectors.erp.report import DispatchReport
from connectors.erp.retry import RetryPolicy, parse_retry_after
from connectors.erp.targets import redact_url
from connectors.erp.webhook_request import signed_request
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import DLQ, ERP_EVENTS
from millstream.events.base import WITHOUT_TIME_CHECK
from millstream.events.deadletter import DeadLetter
from millstream.events.erp import ErpRecord
from millstream.metrics import DEAD_LETTERS, WEBHOOK_ATTEMPTS, WEBHOOK_LATENCY
from millstream.settings import DatabaseSettings, KafkaSettings, WebhookSettings

__all__ = ["DispatchReport", "Dispatcher", "DispatcherBusyError"]

logger = logging.getLogger(__name__)

_LOCK_KEY = 0x77686B73  # "whks"
#: The dead-letter stage of outbox records that are not valid ERP records (set aside at fan-out).
OUTBOX_STAGE = "erp.outbox"
#: ``run`` starts a new round at most this often while deliveries are in flight ...
_MIN_ROUND_S = 0.02
#: ... and keeps at most this many chains per allowed parallel request waiting.
_MAX_CHAINS_PER_REQUEST = 8


class DispatcherBusyError(ErpError):
    """Another dispatcher already delivers from this database."""


@dataclass
class _Flight:
    """Chains on their way: keys in flight, finished attempts not yet recorded, endpoints that said 410
    (``gone``) and those of them whose 410 is recorded (disabled in the database: ``gone_recorded``)."""

    semaphore: asyncio.Semaphore
    busy: set[tuple[str, str]] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    results: list[AttemptResult] = field(default_factory=list)
    finished: list[tuple[str, str]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)
    gone_recorded: set[str] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Dispatcher:
    """Delivers the outbox to webhook endpoints. Use as ``async with Dispatcher(...) as d: await d.run()``."""

    #: Wait before reconnecting to the database after losing it.
    reconnect_delay_s = 1.0

    def __init__(
        self,
        database: DatabaseSettings,
        webhooks: WebhookSettings,
        *,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        batch_size: int = 1000,
        kafka: KafkaSettings | None = None,
    ) -> None:
        self._database = database
        self._webhooks = webhooks
        self.clock = clock or SystemClock()
        self.policy = policy or RetryPolicy()
        self._batch_size = batch_size
        self._conn: psycopg.AsyncConnection[dict[str, Any]] | None = None
        self._client: WebhookClient | None = None
        self._endpoints: dict[str, WebhookEndpoint] = {}
        self._keys: dict[str, list[bytes]] = {}
        self._kafka = kafka
        self._producer: EventProducer | None = None

    async def __aenter__(self) -> Dispatcher:
        self._conn = await self._connect()
        if not await self._take_lock(self._conn):
            await self._conn.close()
            msg = "another webhook dispatcher is already running on this database"
            raise DispatcherBusyError(msg)
        self._client = WebhookClient(self._webhooks.max_parallel, self._webhooks.timeout_s)
        self._client.open()
        if self._kafka is not None:
            self._producer = EventProducer(self._kafka)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
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

    @property
    def client(self) -> WebhookClient:
        if self._client is None:
            msg = "the dispatcher is not open; use `async with Dispatcher(...)`"
            raise ErpError(msg)
        return self._client

    async def _connect(self) -> psycopg.AsyncConnection[dict[str, Any]]:
        conn = await psycopg.AsyncConnection.connect(
            self._database.url.get_secret_value(), autocommit=True, row_factory=dict_row, connect_timeout=10)
        set_json_loads(orjson.loads, conn)  # every due delivery brings its record as jsonb: orjson is ~5x faster
        return conn

    @staticmethod
    async def _take_lock(conn: psycopg.AsyncConnection[dict[str, Any]]) -> bool:
        row = await (await conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", (_LOCK_KEY,))).fetchone()
        return bool(row and row["ok"])

    async def run(self, stop: asyncio.Event | None = None, poll_interval_s: float = 0.25) -> DispatchReport:
        """Deliver until ``stop`` is set. Unlike :meth:`run_once` it does not wait for a whole batch: as soon
        as chains finish their results are recorded, their keys released and more due deliveries started.
        Waits up to ``poll_interval_s`` for new records when nothing is in flight."""
        stop = stop or asyncio.Event()
        total = DispatchReport(keep_latencies=False)
        flight = _Flight(asyncio.Semaphore(self._webhooks.max_parallel))
        endpoints_loaded = 0.0
        while not stop.is_set():
            round_started = time.monotonic()
            # cleared before this round looks at the flight: a chain finishing while the round awaits the
            # database sets it again, and the wait below returns at once instead of losing that wake-up
            flight.wake.clear()
            try:
                report = DispatchReport(keep_latencies=False)
                now = self.clock.now()
                report.fanned_out = await self.fan_out(now)
                await self._flush(flight, report)
                if flight.gone or time.monotonic() - endpoints_loaded > 1.0:  # new endpoints: see _launch
                    recorded = set(flight.gone_recorded)  # not a 410 that arrives while loading
                    await self._load_endpoints()
                    endpoints_loaded = time.monotonic()
                    flight.gone -= recorded  # disabled before the load: not loaded (unless re-enabled)
                    flight.gone_recorded -= recorded
                started = 0
                if len(flight.tasks) < _MAX_CHAINS_PER_REQUEST * self._webhooks.max_parallel:
                    started = await self._launch(now, flight)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                logger.error("webhook dispatcher lost the database: %s; reconnecting", exc)
                try:
                    await self._reconnect()
                except DispatcherBusyError:
                    await self._abandon(flight)
                    raise
                continue
            except (psycopg.Error, ErpError) as exc:  # never let one bad round stop delivery
                logger.error("webhook dispatcher round failed: %s: %s", type(exc).__name__, exc)
                await asyncio.sleep(poll_interval_s)
                continue
            total.add(report)
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
        final = DispatchReport(keep_latencies=False)
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

    async def _publish(self, records: list[tuple[str, dict[str, Any]]]) -> set[str]:
        """Put fanned-out records on ``erp.events`` (key: the event id) before their fan-out commits. A record
        that is not a valid :class:`ErpRecord` goes to ``dlq`` instead (logged, counted) and is returned: it
        is set aside without deliveries, so it cannot hold up the batch forever."""
        producer = self._producer
        assert producer is not None
        failed = producer.failed
        set_aside: dict[str, DeadLetter] = {}
        for event_id, record in records:
            try:
                event = ErpRecord.model_validate(record, context=WITHOUT_TIME_CHECK)
            except ValueError as exc:
                letter = DeadLetter.of(orjson.dumps(record), stage=OUTBOX_STAGE, error_type=type(exc).__name__,
                                       reason=f"outbox record {event_id} is not a valid ERP record: {exc}",
                                       key=event_id)
                producer.send(DLQ, letter, key=event_id.encode())
                set_aside[event_id] = letter
                continue
            producer.send(ERP_EVENTS, event, key=event_id.encode())
        queued = await asyncio.to_thread(producer.flush, self._webhooks.timeout_s)
        if queued or producer.failed > failed:
            msg = f"could not publish {len(records)} ERP records to {ERP_EVENTS.name}; fan-out will be retried"
            raise ErpError(msg)
        for event_id, letter in set_aside.items():  # counted once published (a failed batch is retried)
            DEAD_LETTERS.labels(letter.stage, letter.error_type).inc()
            logger.error("outbox record %s is not a valid ERP record: set aside without deliveries (sent to %s)",
                         event_id, DLQ.name)
        return set(set_aside)

    async def _launch(self, now: datetime, flight: _Flight) -> int:
        """Start a task per endpoint + record key with due deliveries (keys in flight excluded)."""
        rows = await due_deliveries(self.conn, now, self._batch_size, flight.busy)
        if any(row["endpoint_id"] not in self._endpoints for row in rows):  # subscribed or re-enabled since
            await self._load_endpoints()
        chains: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            chains[(row["endpoint_id"], row["record_key"])].append(row)
        for key, chain in chains.items():
            flight.busy.add(key)
            task = asyncio.create_task(self._send_chain(key, chain, flight))
            flight.tasks.add(task)
            task.add_done_callback(flight.tasks.discard)
        return len(rows)

    async def _flush(self, flight: _Flight, report: DispatchReport) -> None:
        """Record finished attempts, then release their keys (never before: no delivery is sent twice)."""
        if not flight.results and not flight.finished:
            return
        results, finished = list(flight.results), list(flight.finished)
        gone = set(flight.gone)  # a 410 joins ``gone`` together with its result: these are in ``results``
        if results:
            disabled = await record_attempts(self.conn, results)  # if this fails, all stay for the next flush
            report.count(results, disabled)
        flight.gone_recorded |= gone
        del flight.results[:len(results)]
        del flight.finished[:len(finished)]
        flight.busy.difference_update(finished)

    async def _reconnect(self) -> None:
        """A new connection holding the dispatcher lock (it went with the old session). If another
        dispatcher holds it now, raise :class:`DispatcherBusyError`: never deliver beside it. If the
        database is still away, the connection stays closed and the next round tries again."""
        await asyncio.sleep(self.reconnect_delay_s)
        if self._conn is not None:
            await self._conn.close()
        try:
            conn = await self._connect()
        except psycopg.Error as exc:
            logger.error("webhook dispatcher cannot reconnect: %s", exc)
            return
        self._conn = conn
        try:
            locked = await self._take_lock(conn)
        except psycopg.Error as exc:
            logger.error("webhook dispatcher cannot take its lock after reconnecting: %s", exc)
            await conn.close()
            return
        if not locked:
            msg = ("webhook dispatcher lost its database lock when the connection dropped and another "
                   "dispatcher holds it now; stopping")
            raise DispatcherBusyError(msg)
        logger.warning("webhook dispatcher reconnected to the database and holds its lock again")

    @staticmethod
    async def _abandon(flight: _Flight) -> None:
        """Cancel chains in flight without recording them (another dispatcher sends them again)."""
        for task in list(flight.tasks):
            task.cancel()
        await asyncio.gather(*flight.tasks, return_exceptions=True)

    async def _load_endpoints(self) -> None:
        self._endpoints = await enabled_endpoints(self.conn)
        self._keys = {e.id: e.signing_keys() for e in self._endpoints.values()}  # decoded once per load

    async def _send_chain(self, key: tuple[str, str], chain: list[dict[str, Any]], flight: _Flight) -> None:
        try:
            for row in chain:
                async with flight.semaphore:  # at most max_parallel requests: a connection is always free
                    endpoint = self._endpoints.get(row["endpoint_id"])
                    if endpoint is None or endpoint.id in flight.gone:  # checked once it is this one's turn
                        return
                    result = await self._attempt(endpoint, row)
                flight.results.append(result)
                if result.outcome == "gone":
                    flight.gone.add(endpoint.id)
                if result.outcome != "delivered":
                    return
        finally:
            flight.finished.append(key)
            flight.wake.set()

    async def _attempt(self, endpoint: WebhookEndpoint, row: dict[str, Any]) -> AttemptResult:
        attempt = row["attempts"] + 1
        attempted_at = self.clock.now()
        keys = self._keys.get(endpoint.id) or endpoint.signing_keys()
        headers, body = signed_request(row["record"], endpoint.content_mode, keys)
        # the caller holds a request slot, so a connection is free: the latency has no queueing in it
        answer = await self.client.post(endpoint.url, body, headers)
        WEBHOOK_LATENCY.observe(answer.latency_ms / 1000)
        retry_after = parse_retry_after(answer.retry_after, attempted_at)
        outcome, next_at = self._next(answer.status, attempt, attempted_at, retry_after)
        WEBHOOK_ATTEMPTS.labels(outcome).inc()
        if outcome != "delivered":
            logger.warning("webhook %s to endpoint %s (%s) attempt %s: %s -> %s", row["event_id"], endpoint.id,
                           redact_url(endpoint.url), attempt,
                           answer.status if answer.status is not None else answer.error, outcome)
        return AttemptResult(row["id"], endpoint.id, row["event_id"], attempt, attempted_at, answer.status,
                             answer.latency_ms, answer.error, answer.excerpt, outcome, next_at)

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
