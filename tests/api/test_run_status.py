"""``/readyz`` under ``millstream up``: the run's services (status file) count, a stale file is not ready;
``/metrics`` is Prometheus text without a key."""

from __future__ import annotations

import json
import time
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from millstream.run_status import STALE_AFTER_S, RunStatus, ServiceState, write_status
from millstream.settings import Settings


def _client(api_settings: Settings, status_file: Path) -> TestClient:
    settings = api_settings.model_copy(update={"api": api_settings.api.model_copy(
        update={"run_status_file": status_file})})
    return TestClient(create_app(settings))


def test_readyz_names_the_service_that_is_down(api_settings: Settings, tmp_path: Path) -> None:
    status_file = tmp_path / "status.json"
    services = [ServiceState("ingest", "running", pid=1), ServiceState("fleet", "finished", pid=2)]
    write_status(status_file, RunStatus("running", services=services))
    with _client(api_settings, status_file) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"database": "ok", "ingest": "running", "fleet": "finished"}

        services[0] = ServiceState("ingest", "restarting", pid=3, restarts=1, detail="exited with code 1")
        write_status(status_file, RunStatus("running", services=services))
        down = client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["checks"]["ingest"] == "restarting: exited with code 1"


def test_readyz_is_not_ready_without_a_current_report(api_settings: Settings, tmp_path: Path) -> None:
    status_file = tmp_path / "status.json"
    with _client(api_settings, status_file) as client:
        assert client.get("/readyz").status_code == 503  # nothing reported yet
        status = RunStatus("running", services=[ServiceState("api", "running")])
        write_status(status_file, status)
        assert client.get("/readyz").status_code == 200
        report = json.loads(status_file.read_text())
        report["updated_at"] = time.time() - STALE_AFTER_S - 1  # the supervisor stopped reporting
        status_file.write_text(json.dumps(report))
        stale = client.get("/readyz")
        assert stale.status_code == 503 and "supervisor" in stale.json()["checks"]


def test_metrics_are_prometheus_text_without_a_key(client_without_database: TestClient) -> None:
    # served from the process's own counters: no key, no database
    answer = client_without_database.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert "# TYPE millstream_dead_letters_total counter" in answer.text
    assert "# TYPE millstream_processing_latency_seconds histogram" in answer.text
