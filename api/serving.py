"""Running the API with uvicorn so that it stops at once: uvicorn waits for running responses before it
stops, and the alert streams never end by themselves, so on Ctrl-C/SIGTERM :class:`ApiServer` first tells
them to end (clients reconnect with ``Last-Event-ID``); a request still running after
:data:`SHUTDOWN_GRACE_S` is cancelled."""

from __future__ import annotations

from types import FrameType

import uvicorn
from fastapi import FastAPI

__all__ = ["SHUTDOWN_GRACE_S", "ApiServer", "api_server"]

SHUTDOWN_GRACE_S = 3


class ApiServer(uvicorn.Server):
    """A uvicorn server that ends the app's event streams when asked to exit."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.end_streams()

    def end_streams(self) -> None:
        notifier = getattr(self._app.state, "alert_notifier", None)
        if notifier is not None:
            notifier.close_streams()


def api_server(app: FastAPI, *, host: str, port: int, log_level: str = "info", **options: object) -> ApiServer:
    """An :class:`ApiServer` for ``app`` (run it with ``.run()``; in a thread, stop it with ``.stop()``...)."""
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level,
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_S, **options)  # type: ignore[arg-type]
    return ApiServer(config, app)
