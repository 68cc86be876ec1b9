"""One endpoint's live OPC-UA session on its own thread and event loop, surviving server restarts.

:class:`EndpointSession` connects (security, identity), resolves the mapped nodes, creates one subscription
with a monitored item per node, and turns every data change into a :class:`SensorReading` (or a
:class:`DeadLetter`) appended to a thread-safe buffer that the Bytewax source drains without blocking.

Loss of the session is detected by asyncua's watchdog (a periodic ServerStatus read: keep-alive), by the
transport closing (socket errors), by publish/request timeouts and by a bad subscription status change.
Then the session marks every monitored node ``BadNoCommunication`` (a bad reading at the time of the loss,
as OPC UA gateways do, so consumers of ``telemetry.readings`` see the gap in the data itself), emits an
``offline`` :class:`EndpointStatus`, throws the client away and reconnects with
exponential backoff and jitter, creating a fresh session and subscription; on success it emits ``online``
with the time the outage began, so the gap is visible downstream. An unreachable endpoint, a rejected
certificate or a refused login only affects this endpoint: it is logged (naming the endpoint), reported as
``offline`` with the reason, and retried. So is any other exception while connecting or subscribing (asyncua
raises more than its own error types). The session thread ends on its own only when the endpoint's security
mode None is refused (configuration, not a transient failure: reported ``offline`` once, never retried).

A session that ends with an unexpected error (an exception while turning data changes into items: reading
factory, deadband, buffer; logged as an error with its traceback, naming the endpoint) or that lasted less
than ``stable_after_s`` is not a reconnect-at-once loss: before reconnecting, the session waits
``backoff.delay`` as for failed connects, but skipping the quick attempts (``initial``, then doubling up to
``max`` for every further such session in a row). So a bug hit on the first value cannot reconnect in a tight
loop; a session that lasted and was then lost (a server restart) reconnects at once, as before.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from asyncua import Client, ua
from asyncua.common.subscription import DataChangeEvent, OverflowPolicy, StatusChangeEvent, Subscription
from asyncua.ua.uaerrors import UaError
from prometheus_client import Counter, Gauge

from connectors.opcua.browse import resolve_nodes
from connectors.opcua.client import connect_client, describe_error, disconnect_quietly
from connectors.opcua.config import Deadband, EndpointConfig
from connectors.opcua.deadband import PercentDeadband, read_percent_deadbands
from connectors.opcua.errors import OpcuaError, OpcuaSecurityError
from connectors.opcua.readings import MappedNode, ReadingFactory
from connectors.opcua.security import require_security_allowed
from millstream.events import DeadLetter, SensorReading, TimePolicy, utc_now
from millstream.events.base import WITHOUT_TIME_CHECK
from millstream.events.connectivity import EndpointState, EndpointStatus

__all__ = ["Backoff", "EndpointSession", "SessionItem"]

logger = logging.getLogger(__name__)

SessionItem = SensorReading | EndpointStatus | DeadLetter

# Failures of connecting/subscribing that are part of life (server down, refused, timed out): no traceback.
_EXPECTED = (TimeoutError, UaError, OSError)

ENDPOINT_ONLINE = Gauge("millstream_opcua_endpoint_online", "1 while the endpoint's session is up.", ["endpoint"])
RECONNECTS = Counter("millstream_opcua_reconnects_total", "Sessions re-established after a loss.", ["endpoint"])
SUPPRESSED = Counter("millstream_opcua_deadband_suppressed_total",
                     "Data changes within a percent deadband the server did not apply (see connectors.opcua.deadband).",
                     ["endpoint"])
DROPPED = Counter("millstream_opcua_dropped_total",
                  "Readings dropped because the source buffer was full (the dataflow is not keeping up).",
                  ["endpoint"])


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter. The first ``quick_attempts`` retry at ``initial`` (a server restart
    of a few seconds is the common case and should not cost a long wait); then attempt n waits
    ``min(max, initial * 2**(n - quick_attempts))``. Each delay is reduced by up to ``jitter`` (a fraction)
    so that many clients whose server restarted do not reconnect in lockstep."""

    initial_s: float = 0.5
    max_s: float = 30.0
    jitter: float = 0.5
    quick_attempts: int = 8

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.max_s, self.initial_s * 2 ** max(0, attempt - self.quick_attempts))
        return base * (1.0 - self.jitter * rng.random())


class EndpointSession:
    """A self-healing subscription to one endpoint. ``start()``, then ``drain()`` from any thread."""

    def __init__(
        self,
        endpoint: EndpointConfig,
        *,
        pki_dir: Path,
        allow_insecure: bool = False,
        backoff: Backoff | None = None,
        time_policy: TimePolicy | None = None,
        max_buffer: int = 200_000,
        clock: Callable[[], datetime] = utc_now,
        stable_after_s: float = 5.0,
    ) -> None:
        self.endpoint = endpoint
        self.pki_dir = pki_dir
        self.allow_insecure = allow_insecure
        self.backoff = backoff or Backoff()
        self.factory = ReadingFactory(endpoint.name, time_policy)
        self.clock = clock
        self.max_buffer = max_buffer
        self.stable_after_s = stable_after_s
        self._buffer: deque[SessionItem] = deque()
        self._rng = random.Random()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self.online = False
        self.connects = 0
        self._deadbands: dict[int, PercentDeadband] = {}

    # -- the worker side -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"opcua-{self.endpoint.name}", daemon=True)
        self._thread.start()
        self._ready.wait(5.0)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the session to close and wait for its thread (bounded)."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # loop closed meanwhile
                pass
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                logger.warning("endpoint %s: session thread did not stop within %.1f s", self.endpoint.name,
                               timeout_s)

    def drain(self, max_items: int = 10_000) -> list[SessionItem]:
        """Take up to ``max_items`` buffered items (never blocks)."""
        buffer = self._buffer
        n = min(len(buffer), max_items)
        return [buffer.popleft() for _ in range(n)]

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the session thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # a bug here must not kill the worker silently
            logger.exception("endpoint %s: session thread crashed", self.endpoint.name)
        finally:
            self._set_online(False)

    def _put(self, item: SessionItem) -> None:
        if len(self._buffer) >= self.max_buffer and isinstance(item, SensorReading):
            DROPPED.labels(self.endpoint.name).inc()
            return
        self._buffer.append(item)

    def _set_online(self, online: bool) -> None:
        self.online = online
        ENDPOINT_ONLINE.labels(self.endpoint.name).set(1 if online else 0)

    def _status(self, state: EndpointState, since: datetime, *, offline_since: datetime | None = None,
                attempts: int = 0, reason: str | None = None) -> None:
        # ``since`` is this session's own clock (a simulated run's under `millstream up`): no wall-clock check
        # here; the consumers check event time against the record's timestamp
        self._put(EndpointStatus.model_validate(
            {"endpoint": self.endpoint.name, "url": self.endpoint.url, "state": state, "since": since,
             "offline_since": offline_since, "attempts": attempts, "reason": reason}, context=WITHOUT_TIME_CHECK))

    async def _sleep(self, seconds: float) -> None:
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = stopping = asyncio.Event()
        self._ready.set()
        name = self.endpoint.name
        attempts = 0
        offline_since: datetime | None = None
        last_reason: str | None = None
        unstable = 0  # sessions in a row that ended with an unexpected error or lasted < stable_after_s
        try:
            require_security_allowed(self.endpoint, allow_insecure=self.allow_insecure)
        except OpcuaSecurityError as exc:  # configuration, not a transient failure: no retries
            logger.error("%s", exc)
            self._status("offline", self.clock(), reason=str(exc))
            return
        while not stopping.is_set():
            client: Client | None = None
            try:
                client = await connect_client(self.endpoint, self.pki_dir, allow_insecure=self.allow_insecure)
                subscription = await self._subscribe(client)
            except Exception as exc:  # whatever asyncua raises, the endpoint goes offline and retries
                if client is not None:
                    await disconnect_quietly(client)
                attempts += 1
                if isinstance(exc, OpcuaError):
                    reason = str(exc)
                elif isinstance(exc, _EXPECTED):
                    reason = f"endpoint {name!r}: {describe_error(exc)}"
                else:  # not a connection problem we know: keep the traceback for the bug report
                    reason = f"endpoint {name!r}: unexpected {type(exc).__name__}: {describe_error(exc)}"
                    logger.error("endpoint %s: unexpected error while connecting or subscribing", name,
                                 exc_info=exc)
                if offline_since is None:
                    offline_since = self.clock()
                    self._status("offline", offline_since, reason=reason, attempts=attempts)
                delay = self.backoff.delay(attempts, self._rng)
                log = logger.warning if reason != last_reason or attempts == 1 else logger.info
                log("%s (attempt %d, retrying in %.2f s)", reason, attempts, delay)
                last_reason = reason
                await self._sleep(delay)
                continue
            now = self.clock()
            if self.connects:
                RECONNECTS.labels(name).inc()
            self.connects += 1
            self._status("online", now, offline_since=offline_since, attempts=attempts)
            self._set_online(True)
            logger.info("endpoint %s: session up (%s)%s", name, self.endpoint.url,
                        f" after {(now - offline_since).total_seconds():.2f} s offline" if offline_since else "")
            attempts, offline_since, last_reason = 0, None, None
            up_at = time.monotonic()
            unexpected = False
            try:
                reason = await self._pump(client, subscription)
            except Exception as exc:  # a bug while consuming values must not end the session thread either
                logger.error("endpoint %s (%s): unexpected error in the subscription while consuming values",
                             name, self.endpoint.url, exc_info=exc)
                reason = f"unexpected {type(exc).__name__}: {describe_error(exc)}"
                unexpected = True
            lasted_s = time.monotonic() - up_at
            self._set_online(False)
            if not stopping.is_set():
                offline_since = self.clock()
                logger.warning("endpoint %s: session lost after %.1f s: %s", name, lasted_s, reason)
                for node in subscription[1].values():
                    self._put(self.factory.no_communication(node, offline_since))
                self._status("offline", offline_since, reason=reason)
            await disconnect_quietly(client)
            if stopping.is_set():
                break
            if unexpected or lasted_s < self.stable_after_s:
                unstable += 1
                delay = self.backoff.delay(self.backoff.quick_attempts + unstable - 1, self._rng)
                logger.warning("endpoint %s: session %s (%d in a row); reconnecting in %.2f s", name,
                               "ended with an unexpected error" if unexpected else f"lasted only {lasted_s:.1f} s",
                               unstable, delay)
                await self._sleep(delay)
            else:
                unstable = 0

    async def _subscribe(self, client: Client) -> tuple[Subscription, dict[int, MappedNode]]:
        endpoint = self.endpoint
        nodes, unresolved = await resolve_nodes(client, endpoint)
        for problem in unresolved:
            logger.error("endpoint %s: %s: %s", endpoint.name, problem.address, problem.reason)
            self._put(self.factory.dead_letter(problem.address, problem.reason, "opcua_node"))
        config = endpoint.subscription
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = config.publishing_interval_ms
        params.RequestedLifetimeCount = 10_000
        params.RequestedMaxKeepAliveCount = max(1, int(2000 / config.publishing_interval_ms))
        params.MaxNotificationsPerPublish = 0
        params.PublishingEnabled = True
        params.Priority = 0
        subscription = await client.create_subscription(params, None, queue_maxsize=100_000,
                                                        overflow=OverflowPolicy.WARN)
        overrides = {(n.machine_id, n.tag): n.deadband for n in endpoint.nodes if n.deadband is not None}
        requests = []
        percent: dict[int, tuple[str, float]] = {}
        for handle, node in enumerate(nodes, start=1):
            deadband = overrides.get((node.machine_id, node.tag), config.deadband)
            requests.append(_monitored_item(handle, node, config.sampling_interval_ms, config.queue_size, deadband))
            if deadband.type == "percent":
                percent[handle] = (node.node_id, deadband.value)
        handles: dict[int, MappedNode] = {}
        if requests:
            results = await subscription.create_monitored_items(requests)
            for handle, (node, result) in enumerate(zip(nodes, results, strict=True), start=1):
                if isinstance(result, ua.StatusCode):
                    reason = f"cannot monitor ({result.name})"
                    logger.error("endpoint %s: node %s (%s/%s): %s", endpoint.name, node.node_id, node.machine_id,
                                 node.tag, reason)
                    self._put(self.factory.dead_letter(node, reason, "opcua_node"))
                else:
                    handles[handle] = node
        self._deadbands = await read_percent_deadbands(
            client, endpoint.name, {h: wanted for h, wanted in percent.items() if h in handles})
        logger.info("endpoint %s: monitoring %d of %d nodes", endpoint.name, len(handles), len(nodes))
        return subscription, handles

    async def _pump(self, client: Client, subscribed: tuple[Subscription, dict[int, MappedNode]]) -> str:
        """Move data changes into the buffer until the session is lost (returns why) or stop is asked."""
        assert self._stopping is not None
        subscription, handles = subscribed
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[str] = loop.create_future()

        async def on_lost(exc: Exception) -> None:
            if not lost.done():
                lost.set_result(describe_error(exc))

        client.connection_lost_callback = on_lost
        consumer: asyncio.Future[str] = asyncio.create_task(self._consume(subscription, handles))
        stop: asyncio.Future[bool] = asyncio.create_task(self._stopping.wait())
        waiting: set[asyncio.Future[Any]] = {consumer, lost, stop}
        done, pending = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if lost in done:
            return lost.result()
        if consumer in done:
            exc = consumer.exception()
            if exc is not None:  # a bug in turning values into items, not a lost session: the caller logs it
                raise exc
            return consumer.result()
        return "stopped"

    async def _consume(self, subscription: Subscription, handles: dict[int, MappedNode]) -> str:
        reading, put, clock, deadbands = self.factory.reading, self._put, self.clock, self._deadbands
        suppressed = SUPPRESSED.labels(self.endpoint.name)
        while True:
            event = await subscription.next_event()
            if isinstance(event, DataChangeEvent):
                item = event.data.monitored_item
                node = handles.get(item.ClientHandle)
                if node is None:
                    continue
                deadband = deadbands.get(item.ClientHandle)
                if deadband is not None and not deadband.passes(
                        item.Value.Value.Value if item.Value.Value is not None else None,
                        item.Value.StatusCode.value if item.Value.StatusCode is not None else 0):
                    suppressed.inc()
                    continue
                put(reading(node, item.Value, clock()))
            elif isinstance(event, StatusChangeEvent):
                status = event.notification.Status
                if not status.is_good():
                    return f"subscription status {status.name}"


def _monitored_item(
    handle: int, node: MappedNode, sampling_ms: float, queue_size: int, deadband: Deadband
) -> ua.MonitoredItemCreateRequest:
    read = ua.ReadValueId()
    read.NodeId = ua.NodeId.from_string(node.node_id)
    read.AttributeId = ua.AttributeIds.Value
    parameters = ua.MonitoringParameters()
    parameters.ClientHandle = handle
    parameters.SamplingInterval = sampling_ms
    parameters.QueueSize = queue_size
    parameters.DiscardOldest = True
    if deadband.type != "none":
        data_filter = ua.DataChangeFilter()
        data_filter.Trigger = ua.DataChangeTrigger.StatusValue
        data_filter.DeadbandType = deadband.ua_type
        data_filter.DeadbandValue = deadband.value
        parameters.Filter = data_filter
    request = ua.MonitoredItemCreateRequest()
    request.ItemToMonitor = read
    request.MonitoringMode = ua.MonitoringMode.Reporting
    request.RequestedParameters = parameters
    return request
