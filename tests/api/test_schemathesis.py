"""Property-based contract test: schemathesis generates requests from the OpenAPI document (valid and
invalid ones) for every operation, sends them in-process with an admin key, and checks that no answer is a
5xx and that answers match the document (status codes, content types, response schemas).

Bounded: a few derandomized examples per operation and no shrinking.

The schema is loaded eagerly (schemathesis' lazy ``from_fixture`` does not work with pytest 9) from an app
built at import time, while requests go to the ``app`` fixture (on the API tests' own database) through a
forwarding ASGI app, because schemathesis starts the lifespan of whatever app it calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from millstream.settings import load_settings
from tests.helpers.api import auth


class _ForwardingApp:
    """An ASGI app that passes everything (lifespan included) to the app set by the fixture below."""

    target: FastAPI | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.target is not None, "the _target_app fixture sets the app under test"
        await self.target(scope, receive, send)


FORWARD = _ForwardingApp()
schema = schemathesis.openapi.from_dict(create_app(load_settings()).openapi())
# The one operation left out: GET /alerts/stream is a Server-Sent Events stream that never ends by design, so
# a generated request would wait forever for the end of the body. Its auth, role scoping, filters and
# Last-Event-ID are tested in tests/api/test_alert_stream.py, and it is in the role matrix.
schema = schema.exclude(method="GET", path="/api/v1/alerts/stream")
schema.app = FORWARD


@pytest.fixture(scope="module", autouse=True)
def _target_app(app: FastAPI) -> Iterator[None]:
    outer_pool = getattr(app.state, "pool", None)  # the ``client`` fixture's, if it started first
    FORWARD.target = app
    yield
    shutdown_lifespans()  # closes the pool schemathesis' lifespan opened, before the database is dropped
    FORWARD.target = None
    if outer_pool is not None:
        app.state.pool = outer_pool


@schema.parametrize()
@settings(max_examples=6, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, tokens: dict[str, str]) -> None:
    response = case.call_and_validate(
        headers=auth(tokens["admin"]),
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
    # The admin key admits every operation: requests that carry it reach the handlers. Schemathesis also
    # sends some without it (its authentication scenarios): those must be refused.
    if case.path == "/osmand":  # device keys, not API keys: no fix without a registered device
        assert 400 <= response.status_code < 500, response.text
    elif "Authorization" in response.request.headers:
        assert response.status_code not in (401, 403), response.text
    else:
        assert response.status_code == 401, response.text


# Hostile bodies: schema-violating data (negative mode) and NUL characters in strings, for every operation
# that takes a body. No answer may be a 5xx, and every answer is valid JSON of the documented shape.
hostile = schemathesis.openapi.from_dict(create_app(load_settings()).openapi())
hostile.app = FORWARD
hostile.config.generation.update(modes=[GenerationMode.NEGATIVE, GenerationMode.POSITIVE], allow_x00=True)
body_operations = hostile.include(method=["POST", "PUT", "PATCH"])


@body_operations.parametrize()
@settings(max_examples=5, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_hostile_bodies_get_no_server_error(case: schemathesis.Case, tokens: dict[str, str]) -> None:
    response = case.call(headers=auth(tokens["admin"]))
    case.validate_response(response, checks=[not_a_server_error, content_type_conformance])
    assert response.status_code < 500, response.text
    response.json()  # the body is valid JSON, whatever was sent
