"""Wakes the API's alert streams when an alert change is committed: one ``LISTEN alert_changes`` connection
per API process (the trigger of migration 0009 notifies on every change).

A notification only says "look again": streams read the change log themselves, so a lost notification costs
latency, never a change. While the listening connection is down, streams poll (:attr:`AlertNotifier.connected`
is false) and the notifier reconnects with backoff, logging the outage once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg

from connectors.postgres.database import redacted_url
from millstream.settings import DatabaseSettings

__all__ = ["CHANNEL", "AlertNotifier"]

logger = logging.getLogger(__name__)

CHANNEL = "alert_changes"
_BACKOFF_S = (0.5, 30.0)


class AlertNotifier:
    """Fan-out of ``alert_changes`` notifications to the open streams (each holds an :class:`asyncio.Event`)."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self._url = settings.url.get_secret_value()
        self._waiters: set[asyncio.Event] = set()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connected = False
        #: Set when the server is shutting down: open streams end (clients reconnect elsewhere or later).
        self.closing = False

    def subscribe(self) -> asyncio.Event:
        """A new event set at every notification (and whenever the listening connection comes or goes)."""
        event = asyncio.Event()
        self._waiters.add(event)
        self.start()
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        self._waiters.discard(event)

    def _wake(self) -> None:
        for event in self._waiters:
            event.set()

    def start(self) -> None:
        """Start listening (in the running event loop), unless already started."""
        if self._task is None or self._task.done():
            self._loop = asyncio.get_running_loop()
            self._task = self._loop.create_task(self._listen(), name="alert-notifier")

    def close_streams(self) -> None:
        """End every open stream (from any thread, e.g. a signal handler): the server can then stop at once."""
        if self._loop is None:
            self.closing = True
            return
        self._loop.call_soon_threadsafe(self._close)

    def _close(self) -> None:
        self.closing = True
        self._wake()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.connected = False

    async def _listen(self) -> None:
        delay = _BACKOFF_S[0]
        failing = False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True,
                                                                 connect_timeout=10) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.connected = True
                    if failing:
                        logger.info("alert notifications: listening again on %s", redacted_url(self._url))
                    failing, delay = False, _BACKOFF_S[0]
                    self._wake()  # changes made while not listening are read now
                    async for _ in conn.notifies():
                        self._wake()
            except psycopg.Error as exc:
                if not failing:
                    logger.warning("alert notifications: cannot listen on %s (%s); streams poll meanwhile",
                                   redacted_url(self._url), str(exc).strip().splitlines()[0] if str(exc) else exc)
                failing = True
            finally:
                self.connected = False
                self._wake()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_S[1])
