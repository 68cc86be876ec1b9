"""Bytewax source for OPC-UA: one partition per endpoint, each a self-healing live session.

Items are :class:`SensorReading` (status code kept), :class:`EndpointStatus` (online/offline transitions)
and :class:`DeadLetter` (unresolvable nodes, values that cannot be readings), in arrival order per endpoint.

**Live-only.** OPC UA subscriptions deliver the present; a server cannot replay what happened while no one
was subscribed (HistoryRead is optional, rarely enabled on machines, and has no durable cursor). So the
snapshot is ``None``: after a restart the source resumes with the current values, and the gap shows as an
``offline``/``online`` :class:`EndpointStatus` pair. The durable path is the bridge
(:mod:`streams.opcua_bridge`): it writes readings to Kafka ``telemetry.readings`` as they arrive, and every
downstream dataflow reads Kafka, whose offsets *are* replayable, with stable event ids for idempotent sinks.

``next_batch`` never blocks: it drains what the session thread buffered and, when nothing is there, asks
Bytewax to come back after ``poll_interval``. A partition ends after ``duration`` or, with ``max_readings``,
after that many readings of its endpoint (quick looks: ``--count``), whichever comes first; and once its
session has stopped for good (the endpoint's security mode None is refused) and everything it buffered was
emitted, so that ``--count`` without ``--duration`` ends even when one endpoint can never deliver.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition

from connectors.opcua.config import ConnectorConfig, EndpointConfig
from connectors.opcua.errors import OpcuaSecurityError
from connectors.opcua.security import check_credentials
from connectors.opcua.session import Backoff, EndpointSession, SessionItem
from millstream.clock import process_clock
from millstream.events import SensorReading, TimePolicy, utc_now
from millstream.settings import Settings

__all__ = ["EndpointPartition", "OpcuaSource"]

logger = logging.getLogger(__name__)


class EndpointPartition(StatefulSourcePartition[SessionItem, None]):
    """One endpoint's session, drained in batches; ends after ``until`` or after ``max_readings`` readings
    when given (quick looks, tests), or when the session thread has ended and its buffer is drained."""

    def __init__(self, session: EndpointSession, *, batch_size: int, poll_interval: timedelta,
                 until: datetime | None, max_readings: int | None = None) -> None:
        self._session = session
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._until = until
        self._remaining = max_readings
        self._awake: datetime | None = None
        session.start()

    def _up_to_limit(self, batch: list[SessionItem]) -> list[SessionItem]:
        """The batch up to and including the last reading allowed by ``max_readings``."""
        for index, item in enumerate(batch):
            if isinstance(item, SensorReading):
                self._remaining -= 1  # type: ignore[operator]
                if self._remaining == 0:
                    return batch[: index + 1]
        return batch

    def next_batch(self) -> list[SessionItem]:
        if self._remaining == 0:
            raise StopIteration
        ended = not self._session.alive  # read before draining: whatever it put before ending is drained
        batch = self._session.drain(self._batch_size)
        if batch and self._remaining is not None:
            batch = self._up_to_limit(batch)
        if batch:
            self._awake = None
            return batch
        if ended:
            logger.info("endpoint %s: session ended; its partition ends", self._session.endpoint.name)
            raise StopIteration
        now = utc_now()
        if self._until is not None and now >= self._until:
            raise StopIteration
        self._awake = now + self._poll_interval
        return batch

    def next_awake(self) -> datetime | None:
        return self._awake

    def snapshot(self) -> None:
        """Nothing to resume from: OPC UA subscriptions cannot replay (see the module docstring)."""
        return None

    def close(self) -> None:
        self._session.stop()


class OpcuaSource(FixedPartitionedSource[SessionItem, None]):
    """Subscribe to every endpoint of ``config``; settings give PKI directory, backoff and time policy.

    Checked here, before the dataflow starts: security mode None is refused unless the endpoint sets
    ``allow_insecure`` (or ``MILLSTREAM_OPCUA__ALLOW_INSECURE`` is true), and a secured endpoint's client
    certificate, key and trust directory must exist. An endpoint failing these checks is logged as an error
    naming it (``refused`` keeps the reasons) and its partition reports it ``offline`` with the reason while
    the other endpoints run (it connects once the missing certificate appears; refused insecurity stays
    refused, and that partition ends once its ``offline`` status is emitted). Only when *every* endpoint fails
    does this raise :class:`OpcuaSecurityError`: nothing could run.
    """

    def __init__(
        self,
        settings: Settings,
        config: ConnectorConfig,
        *,
        duration: timedelta | None = None,
        max_readings: int | None = None,
        batch_size: int = 5_000,
        poll_interval: timedelta = timedelta(milliseconds=20),
        pki_dir: Path | None = None,
    ) -> None:
        self.pki_dir = pki_dir or settings.opcua.pki_dir
        problems: list[OpcuaSecurityError] = []
        self.refused: dict[str, str] = {}
        for endpoint in config.endpoints:
            try:
                check_credentials(endpoint, self.pki_dir, allow_insecure=settings.opcua.allow_insecure)
            except OpcuaSecurityError as exc:
                problems.append(exc)
                self.refused[endpoint.name] = str(exc)
        if problems and len(problems) == len(config.endpoints):
            raise problems[0]
        for reason in self.refused.values():
            logger.error("%s (the other endpoints keep running)", reason)
        self.settings = settings
        self.config = config
        self.duration = duration
        self.max_readings = max_readings
        self.batch_size = batch_size
        self.poll_interval = poll_interval

    def list_parts(self) -> list[str]:
        return [endpoint.name for endpoint in self.config.endpoints]

    def session(self, endpoint: EndpointConfig) -> EndpointSession:
        opcua = self.settings.opcua
        return EndpointSession(
            endpoint, pki_dir=self.pki_dir, allow_insecure=opcua.allow_insecure,
            backoff=Backoff(opcua.reconnect_initial_s, opcua.reconnect_max_s),
            time_policy=TimePolicy.from_settings(self.settings.events),
            clock=process_clock(self.settings.clock).now,  # a simulated run's clock under `millstream up`
        )

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> EndpointPartition:
        if resume_state is not None:
            logger.debug("endpoint %s: ignoring resume state (OPC-UA is live-only)", for_part)
        until = utc_now() + self.duration if self.duration is not None else None
        return EndpointPartition(self.session(self.config.endpoint(for_part)), batch_size=self.batch_size,
                                 poll_interval=self.poll_interval, until=until, max_readings=self.max_readings)
