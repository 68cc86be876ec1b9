"""The live alert feed's cost and speed, on a fresh database on ``MILLSTREAM_DATABASE__URL``'s server.

- **baseline**: alerts upserted (``upsert_alerts``, batches of ``BENCH_FEED_BATCH``) with the change-log
  trigger disabled — alerts/s;
- **change log**: the same with the trigger (migration 0009: a row per change, numbered at commit under a
  lock) — alerts/s and the ratio to the baseline (what the feed costs the alert sink);
- **stream**: the API served by uvicorn in this process, one ``/alerts/stream`` reader (httpx) while the
  batches are committed — alert events/s received, the ratio to the baseline, and the delay from one
  single-alert commit to its event (median and worst of ``BENCH_FEED_PINGS``).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from api.app import create_app
from api.serving import api_server
from bench.databases import fresh_database
from connectors.postgres.alerts import upsert_alerts
from connectors.postgres.apikeys import create_api_key
from connectors.postgres.database import connect
from connectors.postgres.migrations import migrate
from millstream.events.alerts import Alert
from millstream.settings import load_settings

__all__ = ["main"]

ALERTS = int(os.environ.get("BENCH_FEED_ALERTS", "5000"))
BATCH = int(os.environ.get("BENCH_FEED_BATCH", "100"))
PINGS = int(os.environ.get("BENCH_FEED_PINGS", "50"))
T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def _alerts(n: int, tag: str) -> list[Alert]:
    return [Alert.model_validate({
        "subject_kind": "machine", "subject_id": f"{tag}-{i}", "alert_type": "maintenance.bench",
        "domain": "maintenance", "severity": "major", "title": "bench", "opened_at": T0 + timedelta(seconds=i),
        "occurred_at": T0 + timedelta(seconds=i)}, context={"time_policy": None}) for i in range(n)]


def _upsert_rate(conn: psycopg.Connection, alerts: list[Alert]) -> float:
    t0 = time.perf_counter()
    for i in range(0, len(alerts), BATCH):
        upsert_alerts(conn, alerts[i:i + BATCH])
    return len(alerts) / (time.perf_counter() - t0)


class _Reader(threading.Thread):
    """Reads the stream, noting when each alert event arrived (by alert id)."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.url, self.token = url, token
        self.arrived: dict[str, float] = {}
        self.ready = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(timeout=60) as http, http.stream("GET", self.url, headers=headers) as response:
            for line in response.iter_lines():
                if line.startswith("event: snapshot"):
                    self.ready.set()
                elif line.startswith("data: {\"id\""):
                    alert_id = line[len("data: {\"id\":\""):].split('"', 1)[0]
                    self.arrived.setdefault(alert_id, time.perf_counter())


def main() -> dict[str, float]:
    server = load_settings().database.url.get_secret_value()
    figures: dict[str, float] = {}
    with fresh_database(server) as url:
        settings = load_settings(database={"url": url})
        with connect(settings.database, autocommit=True) as conn:
            migrate(conn, settings.database)
            conn.execute("ALTER TABLE alerts DISABLE TRIGGER alerts_record_change")
            figures["baseline_alerts_per_s"] = _upsert_rate(conn, _alerts(ALERTS, "base"))
            conn.execute("ALTER TABLE alerts ENABLE TRIGGER alerts_record_change")
            figures["change_log_alerts_per_s"] = _upsert_rate(conn, _alerts(ALERTS, "log"))
            token = create_api_key(conn, "admin", "bench").token

            port = _free_port()
            uvicorn_server = api_server(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
            serving = threading.Thread(target=uvicorn_server.run, daemon=True)
            serving.start()
            while not uvicorn_server.started:
                time.sleep(0.01)
            reader = _Reader(f"http://127.0.0.1:{port}/api/v1/alerts/stream", token)
            reader.start()
            reader.ready.wait(30)
            streamed = _alerts(ALERTS, "stream")
            t0 = time.perf_counter()
            _upsert_rate(conn, streamed)
            while len(reader.arrived) < len(streamed) and time.perf_counter() - t0 < 120:
                time.sleep(0.01)
            figures["stream_events_per_s"] = len(reader.arrived) / (max(reader.arrived.values()) - t0)
            delays = []
            for ping in _alerts(PINGS, "ping"):
                sent = time.perf_counter()
                upsert_alerts(conn, [ping])
                while ping.id not in reader.arrived and time.perf_counter() - sent < 10:
                    time.sleep(0.0005)
                delays.append((reader.arrived.get(ping.id, float("inf")) - sent) * 1000)
            uvicorn_server.handle_exit(15, None)
            serving.join(10)
    figures["change_log_vs_baseline"] = figures["change_log_alerts_per_s"] / figures["baseline_alerts_per_s"]
    figures["stream_vs_baseline"] = figures["stream_events_per_s"] / figures["baseline_alerts_per_s"]
    figures["commit_to_event_ms_median"] = statistics.median(delays)
    figures["commit_to_event_ms_max"] = max(delays)
    print(f"{ALERTS} alerts in batches of {BATCH}; one stream reader; {PINGS} single-alert commits for the delay")
    for key, value in figures.items():
        print(f"  {key:34s} {value:10.2f}")
    return figures


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
