"""The ERP side of the webhooks, for tests and demos: an HTTP server that receives Millstream's records.

It does what an ERP integration should: verifies every request with the official ``standardwebhooks``
package (any of its secrets, so rotations work), parses it with the ``cloudevents`` SDK (structured or
binary mode), stores production, inventory and shipment records, and ignores a ``webhook-id`` it has
already stored (answering 200, so the sender stops retrying). It can be told to fail the next requests:
``error`` (500), ``timeout`` (stores, then answers only after ``delay_s``), ``rate_limit`` (429 with
``Retry-After``), ``unavailable`` (503 with ``Retry-After``), ``gone`` (410).

In a test::

    with ErpReceiver([secret]) as erp:          # started on a free port of 127.0.0.1
        erp.fail("rate_limit", count=1, retry_after=120)
        ... dispatch to erp.url ...
        assert [r.record_key for r in erp.records()] == [...]

From a shell: ``python -m simulators.erp_receiver --port 8900 --secret whsec_...`` (``POST /control/fail``
with ``{"mode": "error", "count": 3}`` changes behaviour, ``GET /records`` lists what arrived).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import uvicorn
from cloudevents.v1.http import from_http
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["ErpReceiver", "FailureMode", "ReceivedRecord", "main"]

logger = logging.getLogger(__name__)

#: uvicorn options that save work per request: no proxy-header rewriting, no Server/Date headers.
_LEAN: dict[str, Any] = {"proxy_headers": False, "server_header": False, "date_header": False}

FailureMode = Literal["error", "timeout", "rate_limit", "unavailable", "gone"]
_MODES: tuple[str, ...] = ("error", "timeout", "rate_limit", "unavailable", "gone")


@dataclass(frozen=True)
class ReceivedRecord:
    """One stored record: the CloudEvent's attributes and data, and when it arrived."""

    webhook_id: str
    event_type: str
    record_type: str
    record_key: str
    data: dict[str, Any]
    received_at: datetime
    content_mode: str

    @property
    def domain(self) -> str:
        return self.record_type.split(".", 1)[0]


@dataclass
class _Failure:
    mode: str
    remaining: int | None
    retry_after: str
    delay_s: float


class ErpReceiver:
    """A webhook receiver on ``host:port`` (0 = a free port) that runs in a background thread."""

    def __init__(self, secrets: Sequence[str], *, host: str = "127.0.0.1", port: int = 0) -> None:
        if not secrets:
            msg = "the ERP receiver needs at least one whsec_ secret to verify signatures"
            raise ValueError(msg)
        self._verifiers = [Webhook(s) for s in secrets]
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._records: dict[str, ReceivedRecord] = {}
        self._failures: deque[_Failure] = deque()
        self.requests = 0
        self.duplicates = 0
        self.rejected = 0
        self.failed = 0
        self.app = Starlette(routes=[
            Route("/", self._receive, methods=["POST"]),
            Route("/webhooks", self._receive, methods=["POST"]),
            Route("/records", self._list, methods=["GET"]),
            Route("/control/fail", self._control, methods=["POST"]),
            Route("/healthz", lambda _: JSONResponse({"status": "ok"}), methods=["GET"]),
        ])
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- control ------------------------------------------------------------------------------------------

    def fail(self, mode: FailureMode, count: int | None = 1, *, retry_after: int | str = 1,
             delay_s: float = 30.0) -> None:
        """Fail the next ``count`` requests (``None``: until :meth:`recover`) in ``mode``."""
        if mode not in _MODES:
            msg = f"unknown failure mode {mode!r}; one of {', '.join(_MODES)}"
            raise ValueError(msg)
        with self._lock:
            self._failures.append(_Failure(mode, count, str(retry_after), delay_s))

    def recover(self) -> None:
        """Stop failing."""
        with self._lock:
            self._failures.clear()

    def records(self, domain: str | None = None) -> list[ReceivedRecord]:
        """Stored records in arrival order (optionally of one domain: production, inventory, shipment)."""
        with self._lock:
            return [r for r in self._records.values() if domain is None or r.domain == domain]

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}/webhooks"

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> ErpReceiver:
        config = uvicorn.Config(self.app, host=self._host, port=self._port, log_level="warning", lifespan="off",
                                access_log=False, timeout_graceful_shutdown=1, **_LEAN)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="erp-receiver", daemon=True)
        self._thread.start()
        for _ in range(500):
            if self._server.started:
                break
            if not self._thread.is_alive():
                msg = f"ERP receiver could not start on {self._host}:{self._port}"
                raise RuntimeError(msg)
            threading.Event().wait(0.01)
        else:
            msg = f"ERP receiver did not start on {self._host}:{self._port} within 5 s"
            raise RuntimeError(msg)
        self._port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)

    def __enter__(self) -> ErpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP ---------------------------------------------------------------------------------------------

    def _next_failure(self) -> _Failure | None:
        with self._lock:
            self.requests += 1
            if not self._failures:
                return None
            failure = self._failures[0]
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.popleft()
            self.failed += 1
            return failure

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        failure = self._next_failure()
        if failure is not None and failure.mode != "timeout":
            return _failure_response(failure)
        headers = dict(request.headers)
        if not self._verified(body, headers):
            with self._lock:
                self.rejected += 1
            return JSONResponse({"error": "invalid webhook signature"}, status_code=401)
        try:
            event = from_http(headers, body, data_unmarshaller=_data)
        except Exception as exc:  # the SDK raises several types for a malformed CloudEvent
            with self._lock:
                self.rejected += 1
            return JSONResponse({"error": f"not a CloudEvent: {type(exc).__name__}"}, status_code=400)
        status = self._store(headers["webhook-id"], event, headers.get("content-type", ""))
        if failure is not None:  # timeout: processed, but the answer comes too late
            await asyncio.sleep(failure.delay_s)
        return Response(b'{"status":"%s"}' % status.encode(), media_type="application/json")

    def _verified(self, body: bytes, headers: dict[str, str]) -> bool:
        for verifier in self._verifiers:
            try:
                verifier.verify(body, headers, json_parse=False)
            except WebhookVerificationError:
                continue
            except ValueError:  # malformed signature header
                return False
            return True
        return False

    def _store(self, webhook_id: str, event: Any, content_type: str) -> str:
        data = event.get_data() if hasattr(event, "get_data") else event.data
        data = data if isinstance(data, dict) else {"value": data}
        record = ReceivedRecord(
            webhook_id=webhook_id, event_type=event["type"], record_type=str(data.get("record_type", "")),
            record_key=str(event["subject"] or data.get("record_key", "")), data=data,
            received_at=datetime.now(UTC),
            content_mode="structured" if "cloudevents" in content_type else "binary",
        )
        with self._lock:
            if webhook_id in self._records:
                self.duplicates += 1
                return "duplicate"
            self._records[webhook_id] = record
        return "stored"

    async def _list(self, request: Request) -> Response:
        domain = request.query_params.get("domain")
        rows = [{"webhook_id": r.webhook_id, "type": r.event_type, "record_key": r.record_key,
                 "received_at": r.received_at, "data": r.data} for r in self.records(domain)]
        return Response(orjson.dumps({"records": rows, "duplicates": self.duplicates, "rejected": self.rejected,
                                      "requests": self.requests}), media_type="application/json")

    async def _control(self, request: Request) -> Response:
        try:
            spec = orjson.loads(await request.body())
            if spec.get("mode") in (None, "ok", "recover"):
                self.recover()
            else:
                self.fail(spec["mode"], spec.get("count", 1), retry_after=spec.get("retry_after", 1),
                          delay_s=float(spec.get("delay_s", 30.0)))
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse({"status": "ok"})


def _data(raw: str | bytes) -> Any:
    """A CloudEvent's data: JSON if it parses (orjson: faster than the SDK's default), else as it came."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def _failure_response(failure: _Failure) -> Response:
    if failure.mode == "rate_limit":
        return JSONResponse({"error": "too many requests"}, 429, headers={"retry-after": failure.retry_after})
    if failure.mode == "unavailable":
        return JSONResponse({"error": "maintenance"}, 503, headers={"retry-after": failure.retry_after})
    if failure.mode == "gone":
        return JSONResponse({"error": "endpoint removed"}, 410)
    return JSONResponse({"error": "ERP posting failed"}, 500)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m simulators.erp_receiver --port 8900 --secret whsec_... [--secret ...]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m simulators.erp_receiver", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--secret", action="append", help="whsec_ secret (repeat when rotating; default: the "
                        "comma-separated ERP_RECEIVER_SECRETS environment variable, which `ps` does not show)")
    args = parser.parse_args(argv)
    secrets = args.secret or [s for s in os.environ.get("ERP_RECEIVER_SECRETS", "").split(",") if s]
    if not secrets:
        parser.error("give --secret whsec_... or set ERP_RECEIVER_SECRETS")
    receiver = ErpReceiver(secrets, host=args.host, port=args.port)
    print(f"ERP receiver listening on http://{args.host}:{args.port} (GET /records lists what arrived)", flush=True)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(receiver.app, host=args.host, port=args.port, log_level="warning", access_log=False,
                lifespan="off", **_LEAN)


if __name__ == "__main__":
    main()
