"""The dispatcher under stress: losing the database (and its lock), parallel requests and connection pools,
a 410 arriving mid-round, bounded run reports, redacted logs, audited 410s. Real PostgreSQL, real HTTP on
127.0.0.1; waits are for events, never timed windows."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from connectors.erp.clock import ManualClock
from connectors.erp.dispatcher import _LOCK_KEY, Dispatcher, DispatcherBusyError, DispatchReport
from connectors.erp.http_client import WebhookClient
from connectors.erp.outbox import append, append_many
from connectors.erp.queue import AttemptResult, record_attempts
from connectors.erp.subscriptions import create_endpoint, get_endpoint, list_attempts, list_deliveries
from connectors.erp.webhook_request import EXCERPT_BYTES
from connectors.postgres.audit import list_audit
from tests.helpers.erp_factories import T0, endpoint_spec, shipment_record, unique, until


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    await reader.readexactly(length)
    return head


def test_run_stops_when_another_dispatcher_took_the_lock_while_it_reconnected(erp_settings, erp_db, erp, secret):
    create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    append(erp_db, shipment_record(unique("SHP")))
    url = erp_settings.database.url.get_secret_value()

    async def go():
        async with Dispatcher(erp_settings.database, erp_settings.webhooks) as d:
            d.reconnect_delay_s = 0
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as rival:
                await rival.execute("SELECT pg_terminate_backend(%s)", (d.conn.info.backend_pid,))
                await rival.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))  # waits for the old session to end
                with pytest.raises(DispatcherBusyError, match="lost its database lock"):
                    await asyncio.wait_for(d.run(asyncio.Event(), poll_interval_s=0.01), 60)

    asyncio.run(go())
    assert erp.requests == 0
    assert {d.status for d in list_deliveries(erp_db)} <= {"pending"}


def test_run_takes_its_lock_again_after_reconnecting(erp_settings, erp_db, erp, secret):
    create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    record = shipment_record(unique("SHP"))
    append(erp_db, record)

    async def go():
        stop = asyncio.Event()
        async with Dispatcher(erp_settings.database, erp_settings.webhooks) as d:
            d.reconnect_delay_s = 0
            old_pid = d.conn.info.backend_pid
            await asyncio.to_thread(erp_db.execute, "SELECT pg_terminate_backend(%s)", (old_pid,))
            task = asyncio.create_task(d.run(stop, poll_interval_s=0.01))
            await until(lambda: bool(erp.records()), "delivery after the reconnect")
            assert d.conn.info.backend_pid != old_pid
            with pytest.raises(DispatcherBusyError, match="already running"):  # the new session holds the lock
                async with Dispatcher(erp_settings.database, erp_settings.webhooks):
                    pass
            stop.set()
            return await task

    report = asyncio.run(go())
    assert report.delivered == 1 and [r.webhook_id for r in erp.records()] == [record.id]


@pytest.mark.parametrize("max_parallel", [1, 3, 5, 16, 33])
def test_webhook_client_has_a_connection_for_every_parallel_request(max_parallel):
    async def go():
        async with WebhookClient(max_parallel, 1.0) as client:
            connector = client.session.connector
            assert client.connections == max_parallel
            assert connector.limit == max_parallel and connector.limit_per_host == 0  # one host gets them all
            assert client.session.timeout.total == 1.0

    asyncio.run(go())


def test_webhook_client_turns_bad_answers_into_redacted_errors():
    """Not HTTP, a reset, an endless body, NUL bytes: an error or an excerpt on the answer, never an exception, and no
    user-info or query of the URL in the error text (aiohttp prints whole URLs in some messages)."""
    async def go():
        async def garbage(reader, writer):
            await _read_request(reader)
            writer.write(b"\x00\xffNOT HTTP\r\n\r\n")
            await writer.drain()
            writer.close()

        async def reset(reader, writer):
            await _read_request(reader)
            writer.transport.abort()

        async def endless(reader, writer):
            await _read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            with contextlib.suppress(ConnectionError):
                while True:
                    writer.write(b"400\r\n" + b"x" * 1024 + b"\r\n")
                    await writer.drain()

        async def nul(reader, writer):
            await _read_request(reader)
            writer.write(b"HTTP/1.1 500 Oops\r\ncontent-length: 5\r\n\r\na\x00b\x00c")
            await writer.drain()
            writer.close()

        answers = []
        async with WebhookClient(2, 5.0) as client:
            for handler in (garbage, reset, endless, nul):
                server = await asyncio.start_server(handler, "127.0.0.1", 0)
                port = server.sockets[0].getsockname()[1]
                answers.append(await client.post(f"http://ops:hunter2@127.0.0.1:{port}/hook?token=s3cret",
                                                 b"{}", {"content-type": "application/json"}))
                server.close()
        return answers

    garbage, reset, endless, nul = asyncio.run(go())
    assert garbage.status is None and "invalid HTTP answer" in garbage.error
    assert reset.status is None and reset.error
    assert endless.ok and endless.error is None and endless.excerpt == "x" * EXCERPT_BYTES
    assert nul.status == 500 and nul.excerpt == "a\ufffdb\ufffdc"  # PostgreSQL text cannot hold NUL
    for answer in (garbage, reset):
        assert "s3cret" not in answer.error and "hunter2" not in answer.error


def test_max_parallel_requests_are_open_at_the_same_time(erp_settings, erp_db, secret):
    """5 parallel requests need 5 connections: the receiver answers none until all 5 are open at once (with
    4 connections for 5 requests, the fifth would wait for one that never frees up)."""
    parallel = 5
    settings = erp_settings.model_copy(update={"webhooks": erp_settings.webhooks.model_copy(
        update={"max_parallel": parallel, "timeout_s": 60.0})})
    open_at_once = 0

    async def go():
        nonlocal open_at_once
        all_in = asyncio.Event()
        waiting = 0

        async def hold(reader, writer):
            nonlocal waiting, open_at_once
            await _read_request(reader)
            waiting += 1
            open_at_once = max(open_at_once, waiting)
            if waiting >= parallel:
                all_in.set()
            await all_in.wait()
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(hold, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        create_endpoint(erp_db, endpoint_spec(f"http://127.0.0.1:{port}/", secret), allow_private_targets=True)
        append_many(erp_db, [shipment_record(unique("SHP")) for _ in range(parallel)])  # 5 keys: 5 chains
        async with Dispatcher(settings.database, settings.webhooks, clock=ManualClock(T0)) as d:
            report = await d.run_until_idle()
        server.close()
        return report

    report = asyncio.run(go())
    assert report.delivered == parallel and open_at_once == parallel


def test_a_410_arriving_while_endpoints_load_is_not_forgotten(erp_settings, erp_db, secret):
    """The first request is answered 410 exactly while ``run`` reloads the endpoints (which still lists the
    endpoint: the 410 is not recorded yet). A record for another key is due in that round: it must not be
    sent to the endpoint that just said Gone."""
    requests: list[bytes] = []
    second = shipment_record(unique("SHP"))

    async def go():
        release = asyncio.Event()

        async def gone(reader, writer):
            requests.append(await _read_request(reader))
            await release.wait()
            writer.write(b"HTTP/1.1 410 Gone\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(gone, "127.0.0.1", 0)
        endpoint = create_endpoint(erp_db, endpoint_spec(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/",
                                                         secret), allow_private_targets=True)
        append(erp_db, shipment_record(unique("SHP")))
        async with Dispatcher(erp_settings.database, erp_settings.webhooks) as d:
            answered = asyncio.Event()
            attempt, load = d._attempt, d._load_endpoints

            async def attempt_then_signal(*args):
                result = await attempt(*args)
                answered.set()  # the chain records the 410 right after this returns, without yielding
                return result

            async def load_while_the_410_arrives():
                if requests and not release.is_set():  # the first request is held by the receiver
                    append(erp_db, second)
                    await d.fan_out(T0)  # the second record's delivery is due in this very round
                    await load()
                    release.set()
                    await answered.wait()  # the 410 arrives before the load returns
                    return
                await load()

            d._attempt, d._load_endpoints = attempt_then_signal, load_while_the_410_arrives
            stop = asyncio.Event()
            task = asyncio.create_task(d.run(stop, poll_interval_s=0.01))
            await until(lambda: not get_endpoint(erp_db, endpoint.id).enabled, "endpoint disabled")
            await until(lambda: d._endpoints.get(endpoint.id) is None, "disabled endpoint dropped")
            stop.set()
            report = await task
        server.close()
        return endpoint, report

    endpoint, report = asyncio.run(go())
    assert len(requests) == 1, "a request went to the endpoint after its 410"
    assert report.disabled_endpoints == [endpoint.id]
    waiting = [d for d in list_deliveries(erp_db) if d.event_id == second.id]
    assert [(d.status, d.attempts) for d in waiting] == [("pending", 0)]


def test_run_keeps_counts_only_and_run_once_keeps_latencies(erp_settings, erp_db, erp, secret):
    create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    records = [shipment_record(unique("SHP")) for _ in range(4)]

    async def go():
        stop = asyncio.Event()
        async with Dispatcher(erp_settings.database, erp_settings.webhooks) as d:
            await asyncio.to_thread(append_many, erp_db, records[:2])
            once = await d.run_once()
            await asyncio.to_thread(append_many, erp_db, records[2:])
            task = asyncio.create_task(d.run(stop, poll_interval_s=0.01))
            await until(lambda: len(erp.records()) == 4, "all delivered")
            stop.set()
            return once, await task

    once, report = asyncio.run(go())
    assert once.delivered == 2 and len(once.latencies_ms) == 2
    assert report.delivered == 2 and report.latencies_ms == []


def test_report_lists_each_disabled_endpoint_once():
    report = DispatchReport(keep_latencies=False)
    result = AttemptResult(1, "ep_a", "e1", 1, T0, 410, 2.5, None, "", "gone", T0)
    for _ in range(3):
        round_report = DispatchReport()
        round_report.count([result, result], ["ep_a", "ep_a"])
        report.add(round_report)
    report.count([result], ["ep_b"])
    assert report.disabled_endpoints == ["ep_a", "ep_b"] and report.attempts == 7 and report.retried == 7
    assert report.latencies_ms == [] and round_report.latencies_ms == [2.5, 2.5]


def test_failure_log_and_410_disabling_keep_secrets_out_and_are_audited(erp_settings, erp_db, erp, secret, caplog):
    base = erp.url.replace("http://", "http://ops:hunter2@")
    endpoint = create_endpoint(erp_db, endpoint_spec(base + "?token=s3cret", secret), allow_private_targets=True)
    append(erp_db, shipment_record(unique("SHP")))
    erp.fail("error", count=1)
    clock = ManualClock(T0)
    caplog.set_level(logging.WARNING, logger="connectors.erp")

    async def go():
        async with Dispatcher(erp_settings.database, erp_settings.webhooks, clock=clock) as d:
            first = await d.run_once()
            erp.fail("gone", count=1)
            clock.advance(60)
            second = await d.run_once()
            return first, second

    first, second = asyncio.run(go())
    assert first.retried == 1 and second.disabled_endpoints == [endpoint.id]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert endpoint.id in logged and "127.0.0.1" in logged
    assert "hunter2" not in logged and "s3cret" not in logged and "ops:" not in logged
    [delivery] = list_deliveries(erp_db)
    assert [a.status_code for a in list_attempts(erp_db, delivery.id)] == [500, 410]
    [entry] = list_audit(erp_db, resource="webhook_endpoints", resource_id=endpoint.id)
    assert (entry.actor, entry.action) == ("dispatcher", "disable")
    assert entry.details["enabled"] is False and "410" in entry.details["disabled_reason"]


def test_a_410_reason_carries_the_time_of_that_endpoint_s_own_answer(erp_settings, erp_db, erp, secret):
    """In one flush, another endpoint's earlier result comes first: each disabled endpoint's reason still names
    the time of its own 410 answer."""
    early = create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    late = create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    results = [AttemptResult(1, early.id, "e1", 1, T0, 200, 1.0, None, "", "delivered", T0),
               AttemptResult(2, late.id, "e2", 1, T0 + timedelta(minutes=5), 410, 1.0, None, "", "gone", T0),
               AttemptResult(3, early.id, "e3", 1, T0 + timedelta(minutes=9), 410, 1.0, None, "", "gone", T0)]

    async def go():
        url = erp_settings.database.url.get_secret_value()
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row) as conn:
            return await record_attempts(conn, results)

    assert asyncio.run(go()) == sorted([early.id, late.id])
    assert get_endpoint(erp_db, late.id).disabled_reason == f"410 Gone at {(T0 + timedelta(minutes=5)).isoformat()}"
    assert get_endpoint(erp_db, early.id).disabled_reason == f"410 Gone at {(T0 + timedelta(minutes=9)).isoformat()}"


def test_a_chain_finishing_while_a_round_awaits_the_database_wakes_the_next_round(erp_settings, erp_db, secret):
    """Three chains in flight, ``poll_interval_s`` an hour. A's answer starts round 2; while that round
    launches (awaits the database), B finishes. Its result must be recorded by the next round at once, not
    after the poll interval (C stays held, so nothing else could wake ``run``)."""
    a, b, c = (shipment_record(unique("SHP")) for _ in range(3))

    async def go():
        held = {r.id: asyncio.Event() for r in (a, b, c)}
        arrived: set[str] = set()

        async def receiver(reader, writer):
            head = await _read_request(reader)
            event_id = next(line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                            if line.lower().startswith(b"webhook-id:"))
            arrived.add(event_id)
            await held[event_id].wait()
            writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(receiver, "127.0.0.1", 0)
        create_endpoint(erp_db, endpoint_spec(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/", secret),
                        allow_private_targets=True)
        append_many(erp_db, [a, b, c])

        def status(record):
            return next(d.status for d in list_deliveries(erp_db) if d.event_id == record.id)

        patient = erp_settings.webhooks.model_copy(update={"timeout_s": 120.0})  # C is held until the end
        async with Dispatcher(erp_settings.database, patient) as d:
            stop = asyncio.Event()
            task = asyncio.create_task(d.run(stop, poll_interval_s=3600))
            await until(lambda: len(arrived) == 3, "all three requests in flight")
            launch = d._launch
            b_done = False

            async def launch_while_b_finishes(now, flight):
                nonlocal b_done
                if not b_done:
                    b_done = True
                    held[b.id].set()
                    for _ in range(3000):  # B's chain appends its key, then sets ``wake``, without yielding
                        if any(key[1] == b.record_key for key in flight.finished):
                            break
                        await asyncio.sleep(0.005)
                return await launch(now, flight)

            d._launch = launch_while_b_finishes
            held[a.id].set()  # A's chain finishing starts round 2
            await until(lambda: status(b) == "delivered", "B's result recorded while C is still in flight")
            assert status(c) == "pending"
            stop.set()
            held[c.id].set()
            report = await task
        server.close()
        return report

    assert asyncio.run(go()).delivered == 3
