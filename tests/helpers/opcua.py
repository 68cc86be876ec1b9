"""OPC-UA test helpers: endpoint configs, sessions, an observed source."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bytewax.inputs import StatefulSourcePartition

from connectors.opcua.config import ConnectorConfig, EndpointConfig, config_from_data
from connectors.opcua.session import Backoff, EndpointSession, SessionItem
from connectors.opcua.source import OpcuaSource
from millstream.events import DEFAULT_TIME_POLICY
from millstream.settings import Settings

INSECURE = {"policy": "None", "mode": "None", "allow_insecure": True}


def endpoint(url: str, nodes: list[dict[str, object]], **extra: object) -> EndpointConfig:
    data = {"name": extra.pop("name", "test"), "url": url, "security": extra.pop("security", INSECURE),
            "nodes": nodes, **extra}
    return config_from_data({"endpoints": [data]}).endpoints[0]


def connector(*endpoints: EndpointConfig) -> ConnectorConfig:
    return ConnectorConfig(endpoints=list(endpoints))


def start_session(ep: EndpointConfig, pki_dir: Path, **kwargs: object) -> EndpointSession:
    options: dict[str, object] = {"backoff": Backoff(0.1, 0.5), "time_policy": DEFAULT_TIME_POLICY}
    options.update(kwargs)
    session = EndpointSession(ep, pki_dir=pki_dir, **options)  # type: ignore[arg-type]
    session.start()
    return session


def collect(session: EndpointSession, until: Callable[[list[SessionItem]], bool], timeout_s: float = 20.0,
            into: list[SessionItem] | None = None) -> list[SessionItem]:
    """Drain ``session`` until ``until(items)`` holds; fails with what arrived when it does not in time."""
    items = into if into is not None else []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        items.extend(session.drain())
        if until(items):
            return items
        time.sleep(0.02)
    pytest.fail(f"condition not met within {timeout_s} s; got {len(items)} items: {items[-10:]}")


Condition = Callable[[list[SessionItem]], bool]


class ObservedSource(OpcuaSource):
    """An :class:`OpcuaSource` whose partitions end as soon as ``until(items)`` holds for everything the
    source has emitted so far (all partitions): a dataflow that runs until a condition, not for a time.
    ``timeout_s`` is only the upper bound (then ``done`` stays unset and the test says what arrived).
    Other threads can wait on what the flow has seen with :meth:`wait_for`."""

    def __init__(self, settings: Settings, config: ConnectorConfig, until: Condition, *, timeout_s: float = 60,
                 **kwargs: Any) -> None:
        super().__init__(settings, config, duration=timedelta(seconds=timeout_s), **kwargs)
        self.until = until
        self.done = threading.Event()
        self._seen: list[SessionItem] = []
        self._lock = threading.Lock()

    @property
    def seen(self) -> list[SessionItem]:
        with self._lock:
            return list(self._seen)

    def observe(self, batch: list[SessionItem]) -> None:
        with self._lock:
            self._seen.extend(batch)
            if not self.done.is_set() and self.until(list(self._seen)):
                self.done.set()

    def wait_for(self, condition: Condition, timeout_s: float = 30) -> list[SessionItem]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            seen = self.seen
            if condition(seen):
                return seen
            time.sleep(0.02)
        pytest.fail(f"the flow did not see the condition within {timeout_s} s; saw {self.seen[-10:]}")

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _ObservedPartition:
        return _ObservedPartition(super().build_part(step_id, for_part, resume_state), self)


class _ObservedPartition(StatefulSourcePartition[SessionItem, None]):
    def __init__(self, inner: StatefulSourcePartition[SessionItem, None], source: ObservedSource) -> None:
        self.inner = inner
        self.source = source

    def next_batch(self) -> list[SessionItem]:
        if self.source.done.is_set():
            raise StopIteration
        batch = self.inner.next_batch()
        self.source.observe(batch)
        return batch

    def next_awake(self) -> datetime | None:
        return self.inner.next_awake()

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self.inner.close()
