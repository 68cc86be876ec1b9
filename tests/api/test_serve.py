"""End to end over real HTTP: uvicorn serving the app on 127.0.0.1 (a free port), an httpx client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from millstream.settings import Settings
from tests.helpers import api_factories as f
from tests.helpers.api import auth
from tests.helpers.net import free_port
from tests.helpers.paths import ROOT


@pytest.fixture
def base_url(api_settings: Settings) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(api_settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def test_served_over_http(base_url: str, tokens: dict[str, str]) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as http:
        assert http.get("/healthz").json() == {"status": "ok", "checks": {}}
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok"}
        assert http.get("/api/v1/masterdata/trucks").status_code == 401
        truck = f.truck()
        created = http.post("/api/v1/masterdata/trucks", json=truck, headers=auth(tokens["erp"]))
        assert created.status_code == 201, created.text
        read = http.get(f"/api/v1/masterdata/trucks/{truck['id']}", headers=auth(tokens["dispatcher"]))
        assert read.json() == truck
        document = http.get("/openapi.json").json()
        assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"


def test_readyz_says_when_the_database_is_unreachable() -> None:
    # nothing listens on this port: a real refused connection, no mock
    dead_port = free_port()
    settings = Settings(database={"url": f"postgresql://postgres@127.0.0.1:{dead_port}/nowhere"})

    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "checks": {"database": "unreachable"}}
        assert "nowhere" not in ready.text and str(dead_port) not in ready.text
        # any other endpoint: 503 with Retry-After, not a 500 (after the pool's wait)
        down = client.get("/api/v1/alerts", headers=auth("mst_000000000000_" + "A" * 43))
        assert down.status_code == 503 and down.json() == {"detail": "database unavailable"}
        assert down.headers["retry-after"] == "5"


@pytest.mark.subprocess
def test_millstream_api_serve_command(api_settings: Settings, tokens: dict[str, str]) -> None:
    port = free_port()
    env = {**os.environ, "MILLSTREAM_DATABASE__URL": api_settings.database.url.get_secret_value(),
           "MILLSTREAM_API__PORT": str(port)}
    command = [sys.executable, "-c", "from cli.main import run; run()", "api", "serve", "--host", "127.0.0.1"]
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stdout.read().decode() if server.stdout else "exited"
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "millstream api serve did not answer within 30 s"
                time.sleep(0.1)
        assert ready.status_code == 200
        alerts = httpx.get(f"http://127.0.0.1:{port}/api/v1/alerts", headers=auth(tokens["engineer"]), timeout=5)
        assert alerts.status_code == 200 and isinstance(alerts.json(), list)
    finally:
        server.terminate()
        server.wait(10)
