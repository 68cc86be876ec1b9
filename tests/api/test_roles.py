"""The role matrix: every operation of the app x every role (and no key), generated from the app's OpenAPI
document, so a new endpoint is covered (and must be given a policy below) automatically.

Also: 401 for missing, malformed, unknown, wrong-secret and revoked keys with one identical answer, and a
bare 403 for a wrong role.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from connectors.postgres.apikeys import ROLES, create_api_key, revoke_api_key
from millstream.settings import load_settings
from tests.helpers.api import auth

ALL = set(ROLES)
#: The policy the issue asks for, written independently of the code: (method + path pattern, roles).
POLICY: list[tuple[str, set[str]]] = [
    (r"^GET /api/v1/masterdata/", ALL),
    (r"^(POST|PUT) /api/v1/masterdata/", {"erp", "admin"}),
    (r"^(GET|POST) /api/v1/alerts(/|$)", {"engineer", "dispatcher", "admin"}),
    (r"^(GET|POST|PATCH|DELETE) /api/v1/webhooks/", {"erp", "admin"}),
    (r"^GET /api/v1/audit$", {"admin"}),
    (r"^GET /api/v1/(stock|stock/exceptions|movements)$", {"engineer", "erp", "admin"}),
    (r"^GET /api/v1/epcis/events$", ALL),
    (r"^GET /api/v1/me$", ALL),
    (r"^GET /api/v1/opcua/", {"engineer", "admin"}),
    (r"^GET /api/v1/(shipments|trucks|logistics)(/|$)", {"dispatcher", "erp", "admin"}),
    (r"^(GET|POST|DELETE) /api/v1/devices(/|$)", {"admin"}),
    (r"^GET /api/v1/machines(/|$)", {"engineer", "admin"}),
    (r"^GET /api/v1/scorecard$", {"engineer", "dispatcher", "admin"}),
]
PUBLIC = {"GET /healthz", "GET /readyz"}
#: Authenticated per device (a device key), not by API key: refused with a 4xx whatever API key comes along.
DEVICE_AUTH = {"GET /osmand", "POST /osmand"}

OPERATIONS: list[tuple[str, str, dict[str, Any]]] = [
    (method.upper(), path, op)
    for path, ops in create_app(load_settings()).openapi()["paths"].items()
    for method, op in ops.items()
]


def expected_roles(method: str, path: str) -> set[str] | None:
    if f"{method} {path}" in PUBLIC | DEVICE_AUTH:
        return None
    matches = [roles for pattern, roles in POLICY if re.match(pattern, f"{method} {path}")]
    assert len(matches) == 1, f"{method} {path}: give it exactly one entry in POLICY"
    return matches[0]


def concrete(path: str, op: dict[str, Any]) -> str:
    for param in op.get("parameters", []):
        if param["in"] != "path":
            continue
        schema = param["schema"]
        if "enum" in schema:
            value = schema["enum"][0]
        elif schema.get("type") == "integer":
            value = "1"
        elif "14}" in schema.get("pattern", ""):
            value = "04012345010015"
        else:
            value = "MATRIX-1"
        path = path.replace("{" + param["name"] + "}", value)
    return path


def test_every_operation_has_a_policy_and_declares_it() -> None:
    assert len(OPERATIONS) > 50
    for method, path, op in OPERATIONS:
        expected = expected_roles(method, path)
        if expected is None:
            assert "security" not in op and "x-roles" not in op, path
        else:
            assert set(op["x-roles"]) == expected, f"{method} {path}"
            assert op["security"] == [{"ApiKey": []}], f"{method} {path}"


#: The cells of the matrix: (method, path, operation, role); ``None`` is a request without a key.
CELLS = [(method, path, op, role) for method, path, op in OPERATIONS for role in (None, *ROLES)]


def refused_for_want_of_a_key(method: str, path: str, role: str | None) -> bool:
    """A cell whose answer is the 401 for a request without a key: decided before any storage is read."""
    return role is None and expected_roles(method, path) is not None


def call(client: TestClient, method: str, path: str, op: dict[str, Any], role: str | None,
         tokens: dict[str, str]) -> Any:
    headers = auth(tokens[role]) if role else {}
    body = {} if "requestBody" in op else None
    if "text/event-stream" in op["responses"].get("200", {}).get("content", {}):
        # an event stream never ends: read the status, then hang up
        with client.stream(method, concrete(path, op), headers=headers) as response:
            response.read() if response.status_code != 200 else None
        return response
    return client.request(method, concrete(path, op), headers=headers, json=body)


def check_cell(response: Any, method: str, path: str, role: str | None) -> None:
    expected = expected_roles(method, path)
    assert response.status_code < 500, response.text
    if f"{method} {path}" in DEVICE_AUTH:
        assert 400 <= response.status_code < 500, response.text
    elif expected is None:
        assert response.status_code == 200
    elif role is None:
        assert response.status_code == 401
        assert response.json() == {"detail": "Not authenticated"}
    elif role in expected:
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 403
        assert response.json() == {"detail": "Forbidden"}


KEYLESS = [cell for cell in CELLS if refused_for_want_of_a_key(cell[0], cell[1], cell[3])]
KEYED = [cell for cell in CELLS if not refused_for_want_of_a_key(cell[0], cell[1], cell[3])]


def _ids(cells: list[tuple[str, str, dict[str, Any], str | None]]) -> list[str]:
    return [f"{method} {path}-{role}" for method, path, _, role in cells]


@pytest.mark.parametrize(("method", "path", "op", "role"), KEYLESS, ids=_ids(KEYLESS))
def test_role_matrix_without_a_key(client_without_database: TestClient, method: str, path: str,
                                   op: dict[str, Any], role: str | None) -> None:
    """The no-key column, against an app whose database is unreachable: the 401 needs no storage."""
    check_cell(call(client_without_database, method, path, op, role, {}), method, path, role)


@pytest.mark.parametrize(("method", "path", "op", "role"), KEYED, ids=_ids(KEYED))
def test_role_matrix(client: TestClient, tokens: dict[str, str], method: str, path: str, op: dict[str, Any],
                     role: str | None) -> None:
    check_cell(call(client, method, path, op, role, tokens), method, path, role)


def test_every_kind_of_bad_key_gets_the_same_401(client: TestClient, db: psycopg.Connection) -> None:
    issued = create_api_key(db, "admin", "to be revoked")
    db.commit()
    wrong_secret = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    revoked = create_api_key(db, "admin", "revoked")
    revoke_api_key(db, revoked.key.key_id)
    db.commit()
    headers = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": f"Token {issued.token}"},
        auth("not-a-key"),
        auth("mst_000000000000_" + "A" * 43),
        auth(wrong_secret),
        auth(revoked.token),
    ]
    answers = set()
    for header in headers:
        response = client.get("/api/v1/masterdata/materials", headers=header)
        answers.add((response.status_code, response.text, response.headers.get("www-authenticate")))
    assert answers == {(401, '{"detail":"Not authenticated"}', "Bearer")}
    assert client.get("/api/v1/masterdata/materials", headers=auth(issued.token)).status_code == 200


def test_a_header_no_key_can_have_is_refused_without_the_database(client_without_database: TestClient) -> None:
    # no token, another scheme, or a token outside the key grammar (parse_token): the 401 from the header alone
    headers = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Authorization": "Token mst_000000000000_" + "A" * 43},
        auth("mst_short"),
        auth("mst_000000000000_" + "A" * 42),
        auth("k" * 201),
    ]
    not_json = {"content-type": "application/json"}
    answers = set()
    for header in headers:
        for response in (client_without_database.get("/api/v1/alerts", headers=header),
                         client_without_database.post("/api/v1/masterdata/materials", content=b"{not json",
                                                      headers=header | not_json)):
            answers.add((response.status_code, response.text, response.headers.get("www-authenticate")))
    assert answers == {(401, '{"detail":"Not authenticated"}', "Bearer")}


def test_wrong_role_learns_nothing_about_the_resource(client: TestClient, tokens: dict[str, str]) -> None:
    # the same 403 whether the endpoint would have found the thing or not
    existing = client.get("/api/v1/webhooks/endpoints/ep_none", headers=auth(tokens["engineer"]))
    missing = client.get("/api/v1/webhooks/deliveries/1", headers=auth(tokens["engineer"]))
    assert existing.status_code == missing.status_code == 403
    assert existing.text == missing.text == '{"detail":"Forbidden"}'


def test_auth_comes_before_body_parsing(client: TestClient, tokens: dict[str, str]) -> None:
    url = "/api/v1/masterdata/materials"
    not_json = {"content": b"{not json", "headers": {"content-type": "application/json"}}

    def post(token: str | None) -> Any:
        headers = {**not_json["headers"], **(auth(token) if token else {})}
        return client.post(url, content=not_json["content"], headers=headers)

    assert (post(None).status_code, post(None).json()) == (401, {"detail": "Not authenticated"})
    assert post("mst_000000000000_" + "A" * 43).status_code == 401
    assert (post(tokens["engineer"]).status_code, post(tokens["engineer"]).json()) == (403, {"detail": "Forbidden"})
    assert post(tokens["erp"]).status_code == 422


def test_auth_comes_before_body_decoding(client: TestClient, tokens: dict[str, str]) -> None:
    url = "/api/v1/masterdata/trucks"
    headers = {"content-type": "application/json"}
    assert client.post(url, content=b"\xff\xfe{", headers=headers).status_code == 401
    assert client.post(url, content=b"\xff\xfe{", headers=headers | auth(tokens["erp"])).status_code == 400
