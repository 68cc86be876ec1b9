"""The web UI: ``GET /`` answers the single page (``api/static/index.html``), ``/static/`` its ES modules,
styles, message catalogue (``static/i18n/<lang>/<page>.json``) and vendored libraries. No build step.

Every UI answer carries a Content-Security-Policy that lets only this origin's scripts run and connect (the
API key sits in session storage, so no foreign script may ever run on the page), plus ``no-cache`` so a new
version of a module is picked up on the next load (browsers revalidate with the ETag).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["SECURITY_HEADERS", "STATIC_DIR", "mount_ui"]

STATIC_DIR = Path(__file__).parent / "static"

#: Map tiles (Leaflet) may come from any https tile server; everything else from this origin only.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob: https:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _UiFiles(StaticFiles):
    """Static files with :data:`SECURITY_HEADERS`."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def mount_ui(app: FastAPI) -> None:
    """Serve the UI on ``app``: the page at ``/``, its files under ``/static/`` (not in the OpenAPI document)."""

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=SECURITY_HEADERS)

    app.mount("/static", _UiFiles(directory=STATIC_DIR), name="static")
