"""The webhook dispatcher against the ERP receiver simulator over real HTTP on 127.0.0.1, with a real
PostgreSQL, and time moved by a manual clock (no sleeping for retries)."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import httpx
import pytest
from cloudevents.v1.http import from_http
from standardwebhooks.webhooks import Webhook

from connectors.erp.clock import ManualClock
from connectors.erp.dispatcher import Dispatcher, DispatcherBusyError
from connectors.erp.models import WebhookEndpointUpdate
from connectors.erp.outbox import append, append_many
from connectors.erp.retry import STANDARD_SCHEDULE, RetryPolicy
from connectors.erp.signing import generate_secret
from connectors.erp.subscriptions import (
    create_endpoint,
    get_endpoint,
    list_attempts,
    list_deliveries,
    replay,
    update_endpoint,
)
from simulators.erp_receiver import ErpReceiver
from tests.helpers.erp_factories import T0, confirmation_record, endpoint_spec, shipment_record, unique, until
from tests.helpers.kafka import consume_messages


def dispatch(settings, clock=None, policy=None, **kwargs):
    """Run the dispatcher until idle; returns the report."""

    async def go():
        async with Dispatcher(settings.database, settings.webhooks, clock=clock, policy=policy, **kwargs) as d:
            return await d.run_until_idle()

    return asyncio.run(go())


class Session:
    """One open dispatcher driven round by round from synchronous test code."""

    def __init__(self, settings, clock, policy=None):
        self.loop = asyncio.new_event_loop()
        self.dispatcher = Dispatcher(settings.database, settings.webhooks, clock=clock, policy=policy)
        self.loop.run_until_complete(self.dispatcher.__aenter__())

    def round(self):
        return self.loop.run_until_complete(self.dispatcher.run_once())

    def close(self):
        self.loop.run_until_complete(self.dispatcher.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture
def session_factory(erp_settings):
    sessions = []

    def make(clock, policy=None):
        s = Session(erp_settings, clock, policy)
        sessions.append(s)
        return s

    yield make
    for s in sessions:
        s.close()


def test_delivers_signed_cloudevents_that_official_packages_accept(erp_settings, erp_db, erp, secret):
    new_secret = generate_secret()  # rotation: the endpoint signs with both, the ERP still knows the old one
    endpoint = create_endpoint(erp_db, endpoint_spec(erp.url, new_secret, secret), allow_private_targets=True)
    records = [shipment_record(unique("SHP"), m) for m in range(3)] + [confirmation_record(unique("PO"))]
    append_many(erp_db, records)
    report = dispatch(erp_settings)
    assert report.delivered == 4 and report.dead == 0
    received = {r.webhook_id: r for r in erp.records()}
    assert set(received) == {r.id for r in records}
    confirmation = received[records[3].id]
    assert confirmation.record_type == "production.confirmation"
    assert confirmation.data["payload"] == {"good_qty": 10, "scrap_qty": 1}
    assert confirmation.event_type == "io.millstream.erp.production.confirmation"
    assert {r.content_mode for r in received.values()} == {"structured"}
    assert erp.rejected == 0
    deliveries = list_deliveries(erp_db, endpoint_id=endpoint.id)
    assert {d.status for d in deliveries} == {"delivered"}
    attempts = list_attempts(erp_db, deliveries[0].id)
    assert len(attempts) == 1 and attempts[0].status_code == 200 and attempts[0].latency_ms > 0
    assert '"stored"' in attempts[0].response_excerpt


def test_receiver_rejects_a_wrong_secret_and_the_delivery_is_retried(erp_settings, erp_db, erp):
    create_endpoint(erp_db, endpoint_spec(erp.url, generate_secret()), allow_private_targets=True)
    append(erp_db, shipment_record(unique("SHP")))
    report = dispatch(erp_settings, clock=ManualClock())
    assert report.delivered == 0 and report.retried == 1
    assert erp.rejected == 1 and erp.records() == []
    [delivery] = list_deliveries(erp_db)
    assert delivery.status == "pending" and delivery.last_status_code == 401


def test_binary_mode_is_parsed_by_the_cloudevents_sdk(erp_settings, erp_db, erp, secret):
    create_endpoint(erp_db, endpoint_spec(erp.url, secret, content_mode="binary"), allow_private_targets=True)
    record = shipment_record(unique("SHP"), record_type="shipment.delay", delay_min=42)
    append(erp_db, record)
    dispatch(erp_settings)
    [received] = erp.records()
    assert received.content_mode == "binary"
    assert received.data["payload"] == {"delay_min": 42}
    assert received.event_type == "io.millstream.erp.shipment.delay"


def test_event_type_filter_selects_records(erp_settings, erp_db, secret):
    with ErpReceiver([secret]) as shipments, ErpReceiver([secret]) as everything:
        create_endpoint(erp_db, endpoint_spec(shipments.url, secret, event_types=["shipment.*"]),
                        allow_private_targets=True)
        create_endpoint(erp_db, endpoint_spec(everything.url, secret), allow_private_targets=True)
        append(erp_db, shipment_record(unique("SHP")))
        append(erp_db, confirmation_record(unique("PO")))
        dispatch(erp_settings)
        assert [r.domain for r in shipments.records()] == ["shipment"]
        assert sorted(r.domain for r in everything.records()) == ["production", "shipment"]


def test_same_record_twice_is_delivered_once(erp_settings, erp_db, erp, secret):
    create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    number = unique("SHP")
    assert append(erp_db, shipment_record(number)) is True
    assert append(erp_db, shipment_record(number)) is False
    dispatch(erp_settings)
    assert len(erp.records()) == 1 and erp.requests == 1
    assert dispatch(erp_settings).attempts == 0


def test_retry_schedule_with_jitter_on_a_manual_clock(erp_settings, erp_db, erp, secret, session_factory):
    clock = ManualClock(T0)
    session = session_factory(clock, RetryPolicy(jitter=0.1, rng=random.Random(3)))
    create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    append(erp_db, shipment_record(unique("SHP")))
    erp.fail("error", count=3)
    assert session.round().retried == 1  # attempt 1 goes out immediately and fails
    due = []
    for attempt in (2, 3, 4):
        [delivery] = list_deliveries(erp_db)
        delay = delivery.next_attempt_at - clock.now()
        expected = STANDARD_SCHEDULE[attempt - 1]
        assert expected * 0.9 <= delay <= expected * 1.1, (attempt, delay)
        due.append(delay)
        clock.advance(delay - timedelta(milliseconds=1))
        assert session.round().attempts == 0  # not due yet
        clock.advance(timedelta(milliseconds=1))
        assert session.round().attempts == 1
    assert len(set(due)) == 3
    [delivery] = list_deliveries(erp_db)
    assert delivery.status == "delivered" and delivery.attempts == 4
    assert [a.status_code for a in list_attempts(erp_db, delivery.id)] == [500, 500, 500, 200]
    assert len(erp.records()) == 1


def test_schedule_spent_dead_letters_and_replay_delivers(erp_settings, erp_db, erp, secret, session_factory):
    clock = ManualClock(T0)
    session = session_factory(clock)
    create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    record = shipment_record(unique("SHP"))
    append(erp_db, record)
    erp.fail("error", count=None)
    times = []
    for _ in range(12):
        report = session.round()
        if report.attempts:
            times.append(clock.now())
        clock.advance(timedelta(hours=25))
    assert len(times) == 10  # immediately + 9 retries, then dead
    [delivery] = list_deliveries(erp_db)
    assert delivery.status == "dead" and delivery.dead_at is not None and delivery.attempts == 10
    assert len(list_deliveries(erp_db, status="dead")) == 1
    erp.recover()
    assert replay(erp_db, event_id=record.id, now=clock.now()) == 1
    assert session.round().delivered == 1
    assert [r.webhook_id for r in erp.records()] == [record.id]


def test_replay_a_time_range_of_dead_deliveries(erp_settings, erp_db, erp, secret):
    policy = RetryPolicy(schedule=(timedelta(0),))  # one attempt, then dead
    create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    append_many(erp_db, [shipment_record(unique("SHP")) for _ in range(3)])
    erp.fail("error", count=3)
    assert dispatch(erp_settings, policy=policy).dead == 3
    created = [d.created_at for d in list_deliveries(erp_db)]
    assert replay(erp_db, since=max(created) + timedelta(seconds=1)) == 0
    assert replay(erp_db, since=min(created), until=max(created) + timedelta(seconds=1)) == 3
    assert dispatch(erp_settings, policy=policy).delivered == 3
    assert len(erp.records()) == 3


def test_retry_after_is_honoured(erp_settings, erp_db, erp, secret, session_factory):
    clock = ManualClock(T0)
    session = session_factory(clock)
    create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    append(erp_db, shipment_record(unique("SHP")))
    erp.fail("rate_limit", retry_after=120)
    session.round()
    [delivery] = list_deliveries(erp_db)
    assert delivery.last_status_code == 429
    assert delivery.next_attempt_at == T0 + timedelta(seconds=120)  # the server's word, no jitter
    clock.advance(119)
    assert session.round().attempts == 0
    erp.fail("unavailable", retry_after="Sat, 21 Nov 2026 09:00:00 GMT")  # an HTTP date: 08:02 -> 09:00
    clock.advance(1)
    assert session.round().attempts == 1
    [delivery] = list_deliveries(erp_db)
    assert delivery.last_status_code == 503
    assert delivery.next_attempt_at == T0 + timedelta(hours=1)
    clock.advance(timedelta(hours=1))
    assert session.round().delivered == 1


def test_410_disables_the_endpoint_until_re_enabled(erp_settings, erp_db, erp, secret, session_factory):
    clock = ManualClock(T0)
    session = session_factory(clock)
    endpoint = create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    number = unique("SHP")
    append_many(erp_db, [shipment_record(number, minute) for minute in range(2)])  # one key: one at a time
    erp.fail("gone", count=1)
    report = session.round()
    assert report.disabled_endpoints == [endpoint.id]
    stored = get_endpoint(erp_db, endpoint.id)
    assert not stored.enabled and "410" in stored.disabled_reason
    clock.advance(timedelta(days=2))
    assert session.round().attempts == 0
    assert {d.status for d in list_deliveries(erp_db)} == {"pending"}
    update_endpoint(erp_db, endpoint.id, WebhookEndpointUpdate(enabled=True))
    assert get_endpoint(erp_db, endpoint.id).disabled_reason is None
    assert session.round().delivered == 2
    assert len(erp.records()) == 2


def with_timeout(settings, timeout_s):
    return settings.model_copy(update={"webhooks": settings.webhooks.model_copy(update={"timeout_s": timeout_s})})


def test_timeout_is_retried_and_the_erp_ignores_the_duplicate(erp_db, erp, secret, server_url, erp_settings):
    clock = ManualClock(T0)
    create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    record = shipment_record(unique("SHP"))
    append(erp_db, record)
    erp.fail("timeout", delay_s=60.0)  # stores the record, answers a minute later: long after the timeout
    report = dispatch(with_timeout(erp_settings, 0.3), clock=clock)
    assert report.retried == 1
    [delivery] = list_deliveries(erp_db)
    assert delivery.last_error == "timeout after 0.3 s"
    clock.advance(6)
    assert dispatch(with_timeout(erp_settings, 60.0), clock=clock).delivered == 1  # no race with the timeout
    assert erp.duplicates == 1 and [r.webhook_id for r in erp.records()] == [record.id]
    [_, second] = list_attempts(erp_db, delivery.id)
    assert '"duplicate"' in second.response_excerpt


def dispatch_one_record_to(handler, erp_settings, erp_db, secret):
    """Serve ``handler`` as a raw TCP receiver, subscribe it, append one record, dispatch until idle."""

    async def go():
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        create_endpoint(erp_db, endpoint_spec(f"http://127.0.0.1:{port}/", secret), allow_private_targets=True)
        append(erp_db, shipment_record(unique("SHP")))
        async with Dispatcher(erp_settings.database, erp_settings.webhooks, clock=ManualClock(T0)) as d:
            report = await d.run_until_idle()
        server.close()
        return report

    return asyncio.run(go())


def test_garbage_answers_are_logged_and_retried(erp_settings, erp_db, secret):
    async def garbage(reader, writer):
        await reader.read(65536)
        writer.write(b"\x00\xffNOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        writer.close()

    report = dispatch_one_record_to(garbage, erp_settings, erp_db, secret)
    assert report.retried == 1 and report.delivered == 0
    [delivery] = list_deliveries(erp_db)
    assert delivery.status == "pending" and delivery.last_status_code is None
    assert "invalid HTTP answer" in delivery.last_error and "NOT HTTP AT ALL" in delivery.last_error


def test_order_per_record_key_under_concurrency_and_failures(erp_settings, erp_db, erp, secret, session_factory):
    clock = ManualClock(T0)
    session = session_factory(clock, RetryPolicy(rng=random.Random(5)))
    create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    keys = [unique("SHP") for _ in range(12)]
    records = [shipment_record(key, minute) for minute in range(8) for key in keys]  # interleaved by key
    append_many(erp_db, records)
    erp.fail("error", count=20)  # the first 20 requests, whichever keys they belong to, fail
    for _ in range(40):
        session.round()
        if all(d.status == "delivered" for d in list_deliveries(erp_db, limit=1000)):
            break
        clock.advance(timedelta(minutes=31))
    received = erp.records()
    assert len(received) == len(records)
    for key in keys:
        minutes = [r.data["payload"]["minute"] for r in received if r.record_key == key]
        assert minutes == list(range(8)), key
    arrival_keys = [r.record_key for r in received[:12]]
    assert len(set(arrival_keys)) > 1  # different keys went in parallel, not key after key


def test_one_dispatcher_per_database(erp_settings):
    async def go():
        async with Dispatcher(erp_settings.database, erp_settings.webhooks):
            with pytest.raises(DispatcherBusyError, match="already running"):
                async with Dispatcher(erp_settings.database, erp_settings.webhooks):
                    pass

    asyncio.run(go())


def test_official_verifier_accepts_rotated_signatures_directly(erp, secret):
    """The headers the dispatcher builds, checked with standardwebhooks and cloudevents outside the server."""
    from connectors.erp.envelope import encode
    from connectors.erp.signing import secret_key, webhook_headers

    record = shipment_record(unique("SHP"))
    headers, body = encode(record)
    old, new = secret, generate_secret()
    import time

    headers.update(webhook_headers([secret_key(new), secret_key(old)], record.id, int(time.time()), body))
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(body, headers)["id"] == record.id
    assert Webhook(new).verify(body, headers)["data"]["record_key"] == record.record_key
    event = from_http(headers, body)
    assert event["id"] == record.id and event["subject"] == record.record_key
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(generate_secret()).verify(body, headers)
    assert httpx  # real HTTP is exercised by the dispatcher tests above


def test_run_delivers_what_arrives_until_stopped(erp_settings, erp_db, erp, secret):
    create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)

    async def go():
        stop = asyncio.Event()
        async with Dispatcher(erp_settings.database, erp_settings.webhooks) as d:
            task = asyncio.create_task(d.run(stop, poll_interval_s=0.02))
            records = [shipment_record(unique("SHP"), m) for m in range(3)]
            for record in records:
                await asyncio.to_thread(append, erp_db, record)
            await until(lambda: len(erp.records()) == len(records),
                        f"all {len(records)} records delivered: {[r.id for r in records]}")
            stop.set()
            report = await task
        return records, report

    records, report = asyncio.run(go())
    assert {r.webhook_id for r in erp.records()} == {r.id for r in records}
    assert report.delivered == 3


def test_a_huge_answer_is_cut_to_an_excerpt(erp_settings, erp_db, secret):
    async def flood(reader, writer):
        await reader.read(65536)
        writer.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 50000000\r\n\r\n" + b"x" * 65536)
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.close()

    assert dispatch_one_record_to(flood, erp_settings, erp_db, secret).retried == 1
    [delivery] = list_deliveries(erp_db)
    [attempt] = list_attempts(erp_db, delivery.id)
    assert attempt.status_code == 500 and attempt.response_excerpt == "x" * 300


def test_order_per_record_key_in_the_pipelined_run_loop(erp_settings, erp_db, erp, secret):
    """``run`` starts chains while others are in flight: order per key must still hold through failures."""
    create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    keys = [unique("SHP") for _ in range(10)]
    records = [shipment_record(key, minute) for minute in range(6) for key in keys]
    erp.fail("error", count=15)
    clock = ManualClock(T0)

    async def go():
        stop = asyncio.Event()
        async with Dispatcher(erp_settings.database, erp_settings.webhooks, clock=clock,
                              policy=RetryPolicy(rng=random.Random(9))) as d:
            task = asyncio.create_task(d.run(stop, poll_interval_s=0.01))
            for i in range(0, len(records), 7):  # records keep arriving while others are in flight
                await asyncio.to_thread(append_many, erp_db, records[i:i + 7])
                await asyncio.sleep(0.01)
            for _ in range(400):
                if len(erp.records()) == len(records):
                    break
                await asyncio.sleep(0.02)
                clock.advance(timedelta(minutes=31))  # retries come due; no test waits for them
            stop.set()
            await task

    asyncio.run(go())
    received = erp.records()
    assert len(received) == len(records)
    for key in keys:
        assert [r.data["payload"]["minute"] for r in received if r.record_key == key] == list(range(6)), key
    assert {d.status for d in list_deliveries(erp_db, limit=1000)} == {"delivered"}


def test_an_endpoint_deleted_while_its_delivery_is_in_flight(erp_settings, erp_db, secret):
    """The attempt of a delivery whose endpoint was deleted meanwhile is dropped, not a crash."""
    from connectors.erp.subscriptions import delete_endpoint

    async def slow(reader, writer):
        await reader.read(65536)
        await asyncio.to_thread(delete_endpoint, erp_db, endpoint.id)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def go():
        nonlocal endpoint
        server = await asyncio.start_server(slow, "127.0.0.1", 0)
        endpoint = create_endpoint(erp_db, endpoint_spec(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/",
                                                         secret), allow_private_targets=True)
        append(erp_db, shipment_record(unique("SHP")))
        async with Dispatcher(erp_settings.database, erp_settings.webhooks, clock=ManualClock(T0)) as d:
            report = await d.run_until_idle()
        server.close()
        return report

    endpoint = None
    assert asyncio.run(go()).delivered == 1
    assert list_deliveries(erp_db) == []
    assert erp_db.execute("SELECT count(*) AS n FROM webhook_attempts").fetchone()["n"] == 0


def test_run_resumes_an_endpoint_re_enabled_after_410(erp_settings, erp_db, erp, secret):
    endpoint = create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    record = shipment_record(unique("SHP"))
    append(erp_db, record)
    erp.fail("gone")

    async def go():
        stop = asyncio.Event()
        async with Dispatcher(erp_settings.database, erp_settings.webhooks) as d:
            task = asyncio.create_task(d.run(stop, poll_interval_s=0.02))
            await until(lambda: not get_endpoint(erp_db, endpoint.id).enabled, "endpoint disabled by its 410")
            await asyncio.to_thread(update_endpoint, erp_db, endpoint.id, WebhookEndpointUpdate(enabled=True))
            await until(erp.records, "delivery after the endpoint was re-enabled")
            stop.set()
            return await task

    report = asyncio.run(go())
    assert report.disabled_endpoints == [endpoint.id]
    assert [r.webhook_id for r in erp.records()] == [record.id]


def test_erp_receiver_control_api(erp, secret):
    """The simulator's HTTP side for demos: tell it to fail, list what arrived."""
    base = erp.url.removesuffix("/webhooks")
    assert httpx.post(base + "/control/fail", json={"mode": "rate_limit", "count": 1, "retry_after": 7}).is_success
    assert httpx.post(base + "/control/fail", json={"mode": "teapot"}).status_code == 422
    from connectors.erp.signing import secret_key
    from connectors.erp.webhook_request import signed_request

    record = shipment_record(unique("SHP"))
    headers, body = signed_request(record.model_dump(mode="json"), "structured", [secret_key(secret)])
    first = httpx.post(erp.url, content=body, headers=headers)
    assert first.status_code == 429 and first.headers["retry-after"] == "7"
    assert httpx.post(erp.url, content=body, headers=headers).json() == {"status": "stored"}
    assert httpx.post(erp.url, content=body, headers=headers).json() == {"status": "duplicate"}
    tampered = httpx.post(erp.url, content=body.replace(b"eta_update", b"eta_updatf"), headers=headers)
    assert tampered.status_code == 401
    listing = httpx.get(base + "/records").json()
    assert [r["webhook_id"] for r in listing["records"]] == [record.id]
    assert listing["duplicates"] == 1 and listing["rejected"] == 1


def test_fanned_out_records_are_published_to_erp_events(erp_settings, erp_db, erp, secret):

    from connectors.kafka.admin import create_topics
    from connectors.kafka.topics import ERP_EVENTS
    from millstream.events.erp import ErpRecord
    from millstream.serde import decode

    create_topics(erp_settings.kafka, [ERP_EVENTS])
    create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    records = [shipment_record(unique("SHP"), m) for m in range(3)]
    append_many(erp_db, records)
    report = dispatch(erp_settings, kafka=erp_settings.kafka)
    assert report.fanned_out == 3 and report.delivered == 3
    messages = consume_messages(erp_settings, ERP_EVENTS.full_name(erp_settings.kafka), 3)
    assert sorted(m.key().decode() for m in messages) == sorted(r.id for r in records)
    published = sorted((decode(m.value(), ErpRecord, time_policy=None) for m in messages), key=lambda r: r.id)
    assert published == sorted(records, key=lambda r: r.id)


def _consume(settings, topic, count: int) -> list:
    """Up to ``count`` messages of ``topic`` from the start."""
    return consume_messages(settings, topic.full_name(settings.kafka), count, timeout_s=60)


def test_a_corrupted_outbox_record_is_set_aside_and_the_rest_fans_out(erp_settings, erp_db, erp, secret, caplog):
    """With publishing to ``erp.events``, one outbox row that is no valid ERP record must not hold up its
    batch: the others are published and delivered, it goes to ``dlq`` (logged, counted) and is left fanned
    out without deliveries, so the next round does not try it again."""
    from prometheus_client import REGISTRY

    from connectors.erp.dispatcher import OUTBOX_STAGE
    from connectors.kafka.admin import create_topics
    from connectors.kafka.topics import DLQ, ERP_EVENTS
    from millstream.events.deadletter import DeadLetter
    from millstream.serde import decode

    create_topics(erp_settings.kafka, [ERP_EVENTS, DLQ])
    create_endpoint(erp_db, endpoint_spec(erp.url, secret), allow_private_targets=True)
    good_first, bad, good_last = (shipment_record(unique("SHP"), m) for m in range(3))
    append_many(erp_db, [good_first, bad, good_last])
    erp_db.execute("UPDATE erp_outbox SET record = jsonb_set(record, '{occurred_at}', '\"not a time\"') "
                   "WHERE event_id = %s", (bad.id,))
    labels = {"stage": OUTBOX_STAGE, "error_type": "ValidationError"}
    counted = REGISTRY.get_sample_value("millstream_dead_letters_total", labels) or 0.0

    report = dispatch(erp_settings, kafka=erp_settings.kafka)
    assert report.fanned_out == 2 and report.delivered == 2
    assert sorted(r.webhook_id for r in erp.records()) == sorted([good_first.id, good_last.id])
    assert bad.id not in {d.event_id for d in list_deliveries(erp_db)}
    row = erp_db.execute("SELECT fanned_out_at FROM erp_outbox WHERE event_id = %s", (bad.id,)).fetchone()
    assert row["fanned_out_at"] is not None
    assert REGISTRY.get_sample_value("millstream_dead_letters_total", labels) == counted + 1
    assert any(bad.id in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)

    published = _consume(erp_settings, ERP_EVENTS, 2)
    assert sorted(m.key().decode() for m in published) == sorted([good_first.id, good_last.id])
    [letter_msg] = _consume(erp_settings, DLQ, 1)
    letter = decode(letter_msg.value(), DeadLetter, time_policy=None)
    assert letter_msg.key().decode() == bad.id and letter.stage == OUTBOX_STAGE
    assert bad.id in letter.reason and "occurred_at" in letter.reason and b"not a time" in letter.raw_bytes()

    again = dispatch(erp_settings, kafka=erp_settings.kafka)  # set aside for good: not fanned out again
    assert again.fanned_out == 0 and again.attempts == 0
    assert REGISTRY.get_sample_value("millstream_dead_letters_total", labels) == counted + 1
