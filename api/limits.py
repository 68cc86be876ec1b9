"""What any request body meets before and after validation: a size limit, and error answers that are valid
JSON and never repeat the input.

- :class:`BodyLimit` (ASGI middleware) answers 413 to a body larger than ``api.max_body_bytes`` — announced
  by ``Content-Length`` or streamed — before any handler runs; smaller bodies are passed on unchanged.
- :func:`validation_error_response` is the one 422 answer: ``{"detail": [{"loc", "msg", "type"}]}`` with the
  rejected values left out (a webhook secret, an API key, a NaN or a lone surrogate are never echoed) and
  every text made storable, so the answer always serialises.
"""

from __future__ import annotations

from typing import Any

from fastapi import status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from millstream.events.deadletter import safe_text

__all__ = ["BodyLimit", "validation_error_response"]

_TEXT_CHARS = 500


class BodyLimit:
    """``app.add_middleware(BodyLimit, max_bytes=...)``: 413 for bodies above ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse({"detail": f"request body larger than {self.max_bytes} bytes"},
                                status.HTTP_413_CONTENT_TOO_LARGE, headers={"Connection": "close"})
        await response(scope, receive, send)


def _text(value: Any) -> str:
    return safe_text(str(value))[:_TEXT_CHARS]


def _loc_part(part: Any) -> str | int:
    return part if isinstance(part, int) and not isinstance(part, bool) else _text(part)


def validation_error_response(exc: RequestValidationError) -> JSONResponse:
    """The 422 for ``exc``: where and what, never the rejected value."""
    detail = [{"loc": [_loc_part(p) for p in err.get("loc", ())], "msg": _text(err.get("msg", "invalid value")),
               "type": _text(err.get("type", "value_error"))} for err in exc.errors()]
    return JSONResponse({"detail": detail}, status.HTTP_422_UNPROCESSABLE_CONTENT)
