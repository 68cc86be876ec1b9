"""``GET /api/v1/scorecard``: engineers, dispatchers and admins read it (erp 403, no key 401); its shape is the
scorecard's: every figure ``{"value", "n"}``, computed from the stored ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient

from connectors.postgres.ground_truth import store_facts
from millstream.scorecard import TruthFact
from tests.helpers.api import auth, unique

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def test_roles(client: TestClient, tokens: dict[str, str]) -> None:
    for role in ("engineer", "dispatcher", "admin"):
        assert client.get("/api/v1/scorecard", headers=auth(tokens[role])).status_code == 200, role
    assert client.get("/api/v1/scorecard", headers=auth(tokens["erp"])).status_code == 403
    assert client.get("/api/v1/scorecard").status_code == 401


def test_payload_shape_and_truth(client: TestClient, tokens: dict[str, str], db: psycopg.Connection) -> None:
    machine = unique("M")
    facts = [TruthFact(T0, "order_started", machine), TruthFact(T0 + timedelta(hours=1), "degradation_onset", machine),
             TruthFact(T0 + timedelta(hours=3), "failure", machine, {"health": 0.1})]
    store_facts(db, facts, "plant", "test")
    db.commit()
    answer = client.get("/api/v1/scorecard", headers=auth(tokens["engineer"]))
    assert answer.status_code == 200, answer.text
    card = answer.json()
    assert set(card) == {"as_of", "facts", "maintenance", "inventory", "logistics"}
    assert card["facts"] >= 3 and card["maintenance"]["failures"] >= 1
    assert datetime.fromisoformat(card["as_of"]) >= T0 + timedelta(hours=3)
    for figure in (card["maintenance"]["failures_alerted_share"], card["maintenance"]["brier"],
                   card["inventory"]["orders_matching_share"], card["logistics"]["delay_alert_recall"],
                   card["logistics"]["eta_error_by_progress"]["50"]["eta_mae_min"]):
        assert set(figure) == {"value", "n"}
        assert figure["value"] is None or isinstance(figure["value"], int | float)
    assert len(card["maintenance"]["reliability"]) == 10
