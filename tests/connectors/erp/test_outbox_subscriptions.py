"""Outbox idempotency and subscription data access against the real PostgreSQL."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from connectors.erp.models import WebhookEndpointCreate, WebhookEndpointUpdate, event_type_matches
from connectors.erp.outbox import append, append_many, get_record
from connectors.erp.subscriptions import (
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_endpoints,
    update_endpoint,
)
from tests.helpers.erp_factories import endpoint_spec, shipment_record, unique


def test_same_record_twice_is_one_row(db):
    number = unique("SHP")
    record = shipment_record(number)
    assert append(db, record) is True
    assert append(db, record) is False
    again = shipment_record(number)  # rebuilt from the same inputs: same stable id
    assert again.id == record.id
    assert append(db, again) is False
    count = db.execute("SELECT count(*) AS n FROM erp_outbox WHERE record_key = %s", (number,)).fetchone()
    assert count["n"] == 1
    assert get_record(db, record.id) == record


def test_append_many_counts_new_records(db):
    number = unique("SHP")
    records = [shipment_record(number, minute=m) for m in range(5)]
    assert append_many(db, records[:3]) == 3
    assert append_many(db, records) == 2
    rows = db.execute("SELECT event_id FROM erp_outbox WHERE record_key = %s ORDER BY seq", (number,)).fetchall()
    assert [r["event_id"] for r in rows] == [r.id for r in records]


def test_endpoint_crud(db):
    created = create_endpoint(db, endpoint_spec("http://127.0.0.1:9/erp", event_types=["shipment.*"]),
                              allow_private_targets=True)
    assert created.id.startswith("ep_") and created.enabled
    assert created.secrets[0].get_secret_value().startswith("whsec_")
    assert "whsec_" not in repr(created)
    assert get_endpoint(db, created.id) == created
    assert created.id in {e.id for e in list_endpoints(db)}
    changed = update_endpoint(db, created.id, WebhookEndpointUpdate(enabled=False, description="paused"))
    assert changed is not None and not changed.enabled and changed.description == "paused"
    assert changed.url == "http://127.0.0.1:9/erp" and changed.event_types == ["shipment.*"]
    assert created.id not in {e.id for e in list_endpoints(db, enabled=True)}
    assert update_endpoint(db, "ep_missing", WebhookEndpointUpdate(enabled=True)) is None
    assert delete_endpoint(db, created.id) is True
    assert delete_endpoint(db, created.id) is False
    assert get_endpoint(db, created.id) is None


def test_endpoint_input_is_validated_with_field_names():
    with pytest.raises(ValidationError, match="event_types"):
        WebhookEndpointCreate.model_validate({"url": "http://127.0.0.1/", "event_types": ["shipments.*"]})
    with pytest.raises(ValidationError, match=r"secrets\[0\]: webhook secret must start with 'whsec_'"):
        WebhookEndpointCreate.model_validate({"url": "http://127.0.0.1/", "secrets": ["hunter2"]})
    with pytest.raises(ValidationError, match="url"):
        WebhookEndpointCreate.model_validate({"url": "ftp://127.0.0.1/"})


def test_event_type_filter():
    assert event_type_matches([], "shipment.delay")
    assert event_type_matches(["shipment.*"], "shipment.delay")
    assert not event_type_matches(["shipment.*"], "production.confirmation")
    assert event_type_matches(["production.confirmation", "inventory.*"], "production.confirmation")
    assert event_type_matches(["*"], "inventory.transfer")


@pytest.mark.parametrize("workers", [0, 2])
def test_pipelines_write_through_the_outbox_sink_idempotently(settings, db, workers):
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSource, cluster_main, run_main

    from connectors.erp.sink import OutboxSink

    number = unique("SHP")
    records = [shipment_record(number, minute=m) for m in range(6)]
    flow = Dataflow("outbox_sink_test")
    stream = op.input("in", flow, TestingSource([*records, records[2], records[4]]))  # two re-emitted
    op.output("erp", stream, OutboxSink(settings.database))
    for _ in range(2):  # and the whole run replayed
        if workers:
            cluster_main(flow, [], 0, worker_count_per_proc=workers)
        else:
            run_main(flow)
    rows = db.execute("SELECT event_id FROM erp_outbox WHERE record_key = %s ORDER BY seq", (number,)).fetchall()
    assert sorted(r["event_id"] for r in rows) == sorted(r.id for r in records)
