"""A live session against the in-process asyncua plant: values, status codes, bad input, restarts, deadband."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua

from connectors.opcua.readings import ReadingFactory
from connectors.opcua.session import Backoff, EndpointSession
from millstream.events import DeadLetter, SensorReading, utc_now
from millstream.events.connectivity import EndpointStatus
from tests.helpers.net import free_port
from tests.helpers.opcua import collect, endpoint, start_session
from tests.helpers.opcua_servers import AsyncuaPlant

pytestmark = pytest.mark.opcua

TEMPERATURE = AsyncuaPlant.node_id("M1", "Temperature")
SPEED = AsyncuaPlant.node_id("M1", "Speed")


def readings(items: list, tag: str | None = None) -> list[SensorReading]:
    return [i for i in items if isinstance(i, SensorReading) and (tag is None or i.tag == tag)]


def statuses(items: list) -> list[EndpointStatus]:
    return [i for i in items if isinstance(i, EndpointStatus)]


def has_value(tag: str, value: object):
    return lambda items: any(r.value == value for r in readings(items, tag))


def test_subscribes_and_receives_values_with_timestamps(plant: AsyncuaPlant, tmp_path: Path) -> None:
    ep = endpoint(plant.url, [{"node_id": TEMPERATURE, "machine_id": "M1", "tag": "temperature", "unit": "degC"},
                              {"node_id": SPEED, "machine_id": "M1", "tag": "speed"}],
                  subscription={"publishing_interval_ms": 50, "sampling_interval_ms": 0})
    session = start_session(ep, tmp_path)
    try:
        items = collect(session, lambda items: len(readings(items)) >= 2)
        assert statuses(items)[0].state == "online"
        initial = {r.tag: r.value for r in readings(items)}
        assert initial == {"temperature": 20.0, "speed": 1000.0}
        plant.write(TEMPERATURE, 71.5)
        items = collect(session, has_value("temperature", 71.5), into=items)
        reading = next(r for r in readings(items, "temperature") if r.value == 71.5)
        assert reading.machine_id == "M1" and reading.unit == "degC" and reading.node_id == TEMPERATURE
        assert reading.quality == "good" and reading.status_code == 0
        assert reading.server_timestamp is not None and reading.source_timestamp.tzinfo is not None
    finally:
        session.stop()


def test_uncertain_and_bad_status_codes_stay_visible(plant: AsyncuaPlant, tmp_path: Path) -> None:
    ep = endpoint(plant.url, [{"node_id": TEMPERATURE, "machine_id": "M1", "tag": "temperature"}],
                  subscription={"publishing_interval_ms": 50, "sampling_interval_ms": 0})
    session = start_session(ep, tmp_path)
    try:
        items = collect(session, lambda items: len(readings(items)) >= 1)
        plant.write(TEMPERATURE, 55.0, status=ua.StatusCodes.UncertainLastUsableValue)
        items = collect(session, lambda items: any(r.quality == "uncertain" for r in readings(items)), into=items)
        plant.write(TEMPERATURE, None, status=ua.StatusCodes.BadSensorFailure)
        items = collect(session, lambda items: any(r.quality == "bad" for r in readings(items)), into=items)
        uncertain = next(r for r in readings(items) if r.quality == "uncertain")
        assert uncertain.status_code == ua.StatusCodes.UncertainLastUsableValue and uncertain.value == 55.0
        bad = next(r for r in readings(items) if r.quality == "bad")
        assert bad.status_code == ua.StatusCodes.BadSensorFailure and bad.value is None
    finally:
        session.stop()


def test_unknown_node_and_array_value_become_dead_letters_while_others_flow(
    plant: AsyncuaPlant, tmp_path: Path
) -> None:
    ep = endpoint(plant.url, [
        {"node_id": "ns=2;s=M1.DoesNotExist", "machine_id": "M1", "tag": "ghost"},
        {"node_id": AsyncuaPlant.node_id("M1", "Matrix"), "machine_id": "M1", "tag": "matrix"},
        {"browse_path": "0:Objects/2:Machines/2:M1/2:Nope", "machine_id": "M1", "tag": "nope"},
        {"node_id": TEMPERATURE, "machine_id": "M1", "tag": "temperature"},
    ], subscription={"publishing_interval_ms": 50, "sampling_interval_ms": 0})
    session = start_session(ep, tmp_path)
    try:
        def done(items: list) -> bool:
            return len([i for i in items if isinstance(i, DeadLetter)]) >= 3 and len(readings(items)) >= 1

        items = collect(session, done)
        letters = {d.error_type: d for d in items if isinstance(d, DeadLetter)}
        reasons = " | ".join(d.reason for d in items if isinstance(d, DeadLetter))
        assert "endpoint 'test' node ns=2;s=M1.DoesNotExist" in reasons and "BadNodeIdUnknown" in reasons
        assert "0:Objects/2:Machines/2:M1/2:Nope" in reasons
        assert "unsupported value type list" in letters["opcua_value"].reason
        assert readings(items)[0].tag == "temperature"
    finally:
        session.stop()


def test_restart_reconnects_resumes_values_and_reports_gap(plant: AsyncuaPlant, tmp_path: Path) -> None:
    ep = endpoint(plant.url, [{"node_id": TEMPERATURE, "machine_id": "M1", "tag": "temperature"}],
                  subscription={"publishing_interval_ms": 50, "sampling_interval_ms": 0})
    session = start_session(ep, tmp_path)
    try:
        items = collect(session, lambda items: len(readings(items)) >= 1)
        stopped_at = utc_now()
        plant.stop()
        items = collect(session, lambda items: statuses(items)[-1].state == "offline", into=items)
        started_at = utc_now()
        plant.start()
        plant.write(TEMPERATURE, 33.25)
        items = collect(session, has_value("temperature", 33.25), into=items)
        states = [s.state for s in statuses(items)]
        assert states == ["online", "offline", "online"]
        offline, back = statuses(items)[1:]
        assert offline.reason
        assert back.offline_since == offline.since
        # causal order, not durations: lost after the stop began, back only after the server started again
        assert stopped_at <= offline.since < started_at <= back.since
        assert back.gap_s == (back.since - offline.since).total_seconds()
        assert session.connects == 2
        marker = next(r for r in readings(items) if r.quality == "bad")  # the gap, visible in the readings
        assert marker.status_code == ua.StatusCodes.BadNoCommunication and marker.value is None
        assert marker.source_timestamp == offline.since and items.index(marker) < items.index(offline)
    finally:
        session.stop()


def test_unreachable_endpoint_reports_offline_and_connects_when_server_appears(tmp_path: Path) -> None:
    port = free_port()
    late = AsyncuaPlant(port=port)
    ep = endpoint(late.url, [{"node_id": TEMPERATURE, "machine_id": "M1", "tag": "temperature"}],
                  subscription={"publishing_interval_ms": 50})
    session = start_session(ep, tmp_path)
    try:
        items = collect(session, lambda items: len(statuses(items)) >= 1)
        first = statuses(items)[0]
        assert first.state == "offline"
        assert f"endpoint 'test' ({late.url})" in (first.reason or "") and "connection refused" in (first.reason or "")
        late.start()
        items = collect(session, lambda items: len(readings(items)) >= 1, into=items)
        online = statuses(items)[-1]
        assert online.state == "online" and online.attempts >= 1 and online.offline_since == first.since
    finally:
        session.stop()
        late.close()


def test_absolute_deadband_reduces_traffic(plant: AsyncuaPlant, tmp_path: Path) -> None:
    def run(deadband: dict[str, object] | None) -> list[SensorReading]:
        sub: dict[str, object] = {"publishing_interval_ms": 20, "sampling_interval_ms": 0, "queue_size": 100}
        if deadband:
            sub["deadband"] = deadband
        ep = endpoint(plant.url, [{"node_id": SPEED, "machine_id": "M1", "tag": "speed"}], subscription=sub)
        plant.write(SPEED, 1000.0)
        session: EndpointSession = start_session(ep, tmp_path)
        try:
            items = collect(session, lambda items: len(readings(items)) >= 1)
            for step in range(1, 41):  # 40 changes of 0.5, then a marker jump
                plant.write(SPEED, 1000.0 + step * 0.5)
            plant.write(SPEED, 5000.0)
            items = collect(session, has_value("speed", 5000.0), into=items)
            return readings(items)
        finally:
            session.stop()

    without = run(None)
    with_deadband = run({"type": "absolute", "value": 5.0})
    assert len(without) >= 35  # nearly every write is reported
    assert len(with_deadband) <= 8  # only changes larger than 5.0 since the last reported value
    assert with_deadband[-1].value == 5000.0


def test_unexpected_error_while_subscribing_goes_offline_and_retries(
    plant: AsyncuaPlant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection into the real client: its first create_subscription raises RuntimeError (not an
    OPC UA or socket error). The endpoint must report offline, back off, and come back, not die silently."""
    real = Client.create_subscription
    calls: list[int] = []

    async def fails_once(self: Client, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            msg = "injected: the subscription service broke"
            raise RuntimeError(msg)
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(Client, "create_subscription", fails_once)
    ep = endpoint(plant.url, [{"node_id": TEMPERATURE, "machine_id": "M1", "tag": "temperature"}],
                  subscription={"publishing_interval_ms": 50, "sampling_interval_ms": 0})
    session = start_session(ep, tmp_path)
    try:
        items = collect(session, lambda items: len(readings(items)) >= 1)
        offline, online = statuses(items)
        assert offline.state == "offline" and online.state == "online"
        assert "endpoint 'test'" in (offline.reason or "") and "RuntimeError" in (offline.reason or "")
        assert "injected" in (offline.reason or "")
        assert online.offline_since == offline.since and online.attempts == 1
        assert session.alive and session.connects == 1 and len(calls) == 2
    finally:
        session.stop()


def test_error_while_consuming_values_is_logged_backs_off_and_recovers(
    plant: AsyncuaPlant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Fault injection into the real reading factory: turning the first values into readings raises
    RuntimeError (a bug, not a lost session) in three sessions in a row. Each is logged with its traceback
    naming the endpoint, and each time the session waits a growing backoff before reconnecting (no tight
    loop); the fourth session delivers readings."""
    real = ReadingFactory.reading
    calls: list[int] = []

    def fails_three_times(self: ReadingFactory, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= 3:
            msg = f"injected: reading bug {len(calls)}"
            raise RuntimeError(msg)
        return real(self, *args, **kwargs)

    real_sleep = EndpointSession._sleep
    sleeps: list[tuple[int, float]] = []  # (connects so far, requested delay)

    async def recorded_sleep(self: EndpointSession, seconds: float) -> None:
        sleeps.append((self.connects, seconds))
        await real_sleep(self, seconds)

    monkeypatch.setattr(ReadingFactory, "reading", fails_three_times)
    monkeypatch.setattr(EndpointSession, "_sleep", recorded_sleep)
    ep = endpoint(plant.url, [{"node_id": TEMPERATURE, "machine_id": "M1", "tag": "temperature"}],
                  subscription={"publishing_interval_ms": 50, "sampling_interval_ms": 0})
    with caplog.at_level("WARNING", logger="connectors.opcua.session"):
        session = start_session(ep, tmp_path, backoff=Backoff(0.1, 0.5, jitter=0.0))
        try:
            items = collect(session, lambda items: len(readings(items)) >= 1)
            plant.write(TEMPERATURE, 42.5)
            items = collect(session, has_value("temperature", 42.5), into=items)
        finally:
            session.stop()
    states = [s.state for s in statuses(items)]
    assert states == ["online", "offline"] * 3 + ["online"]
    for offline in statuses(items)[1:6:2]:
        assert "unexpected RuntimeError" in (offline.reason or "") and "injected" in (offline.reason or "")
    assert session.alive is False and session.connects == 4 and len(calls) >= 4
    # one wait after each failed session, before the next connect, growing: no reconnect at once
    assert sleeps == [(1, 0.1), (2, 0.2), (3, 0.4)]
    errors = [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info is not None]
    assert len(errors) == 3
    assert all("endpoint test" in r.getMessage() and "consuming values" in r.getMessage() for r in errors)
    assert all(isinstance(r.exc_info[1], RuntimeError) for r in errors)  # type: ignore[index]
