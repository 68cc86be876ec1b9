"""Bodies a hostile or broken client sends: each gets a 4xx whose body is valid JSON, never a 5xx, never an
echo of what was sent (secrets above all), and nothing oversized is stored."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from millstream.settings import Settings
from tests.helpers.api import auth, unique

SITES = "/api/v1/masterdata/sites"
ENDPOINTS = "/api/v1/webhooks/endpoints"


def site(**overrides: object) -> dict[str, object]:
    return {"id": unique("S"), "name": "Plant", "kind": "plant", "lat": 53.4, "lon": -2.9,
            "geofence": {"type": "Polygon", "coordinates": [[[-2.91, 53.39], [-2.89, 53.39], [-2.89, 53.41],
                                                            [-2.91, 53.39]]]}, **overrides}


def raw_json(document: dict[str, object]) -> bytes:
    """What a client that allows NaN and lone surrogates writes (Python's json does)."""
    return json.dumps(document, allow_nan=True).encode()


def post(client: TestClient, url: str, body: bytes, token: str) -> tuple[int, object]:
    response = client.post(url, content=body, headers={**auth(token), "Content-Type": "application/json"})
    return response.status_code, response.json()  # .json() fails if the body is not valid JSON


@pytest.mark.parametrize(("overrides", "field"), [
    ({"lat": float("nan")}, "lat"),
    ({"lon": float("inf")}, "lon"),
    ({"lat": float("-inf")}, "lat"),
])
def test_nan_and_infinities_are_422_with_a_json_body(client: TestClient, tokens: dict[str, str],
                                                     overrides: dict[str, object], field: str) -> None:
    status, body = post(client, SITES, raw_json(site(**overrides)), tokens["erp"])
    assert status == 422
    assert any(err["loc"][-1] == field for err in body["detail"])
    assert all("input" not in err for err in body["detail"])


@pytest.mark.parametrize("name", ["\ud800", "A\udfffB", "nul\x00inside"])
def test_lone_surrogates_and_nul_are_422_and_the_connection_stays_usable(
    client: TestClient, tokens: dict[str, str], name: str
) -> None:
    status, body = post(client, SITES, raw_json(site(name=name)), tokens["erp"])
    assert status == 422, body
    assert "name" in json.dumps(body)
    assert client.get(SITES, headers=auth(tokens["erp"])).status_code == 200


def test_long_strings_are_refused_by_the_models(client: TestClient, tokens: dict[str, str]) -> None:
    status, body = post(client, SITES, raw_json(site(name="N" * 201)), tokens["erp"])
    assert status == 422
    assert body["detail"][0]["loc"] == ["body", "name"]
    assert "N" * 50 not in json.dumps(body)


def test_a_body_over_the_limit_is_413_and_nothing_is_stored(client: TestClient, tokens: dict[str, str]) -> None:
    record = site(name="N" * 10_000_000)
    status, body = post(client, SITES, raw_json(record), tokens["erp"])
    assert status == 413
    assert "larger than" in body["detail"]
    assert client.get(f"{SITES}/{record['id']}", headers=auth(tokens["erp"])).status_code == 404


def test_a_streamed_body_over_the_limit_is_413(api_settings: Settings, tokens: dict[str, str]) -> None:
    """Without Content-Length (chunked), the limit holds while the body is read."""
    small = api_settings.model_copy(update={"api": api_settings.api.model_copy(update={"max_body_bytes": 4096})})

    def chunks() -> Iterator[bytes]:
        yield b'{"id": "S-stream", "name": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    with TestClient(create_app(small)) as client:
        response = client.post(SITES, content=chunks(),
                               headers={**auth(tokens["erp"]), "Content-Type": "application/json"})
        assert response.status_code == 413
        assert response.json() == {"detail": "request body larger than 4096 bytes"}
        ok = client.post(SITES, json=site(), headers=auth(tokens["erp"]))
        assert ok.status_code == 201, ok.text


@pytest.mark.parametrize("spec", [
    {"url": "https://erp.example.com/hook", "secrets": ["whsec_TOPSECRET-not-base64!!"]},
    {"url": "not a url", "secrets": ["whsec_TOPSECRET-not-base64!!"]},
    {"secrets": ["whsec_TOPSECRET-not-base64!!"]},
    {"url": "https://erp.example.com/hook", "secrets": ["whsec_TOPSECRET-" + "x" * 600]},
    {"url": "https://erp.example.com/hook", "secrets": ["whsec_TOPSECRET\x00"]},
])
def test_validation_errors_never_echo_a_secret(client: TestClient, tokens: dict[str, str],
                                               spec: dict[str, object]) -> None:
    response = client.post(ENDPOINTS, content=raw_json(spec),
                           headers={**auth(tokens["admin"]), "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert "TOPSECRET" not in response.text
    response.json()


def test_webhook_text_fields_are_bounded(client: TestClient, tokens: dict[str, str]) -> None:
    for spec in ({"url": "https://erp.example.com/hook", "event_types": ["x" * 101]},
                 {"url": "https://erp.example.com/hook", "description": "d" * 501}):
        response = client.post(ENDPOINTS, json=spec, headers=auth(tokens["admin"]))
        assert response.status_code == 422, response.text


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b"[" * 50_000, b"null", b'"just a string"', b""])
def test_unparseable_bodies_are_4xx_with_json(client: TestClient, tokens: dict[str, str], body: bytes) -> None:
    status, _ = post(client, SITES, body, tokens["erp"])
    assert 400 <= status < 500
