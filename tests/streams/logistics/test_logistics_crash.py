"""Exactly once at the ERP across a kill -9: ``millstream logistics`` is killed mid-stream (SIGKILL, no
shutdown), more pings arrive, it is started again and drains the topic. Its ERP outbox then holds exactly
the records of an uninterrupted run over the same input (same ids, same content, none twice) — both when it
replays the topic from the start (``--from-beginning``) and when it resumes from its recovery snapshots."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bytewax.testing import run_main

from connectors.postgres.database import connect
from connectors.postgres.migrations import migrate
from millstream.settings import Settings, load_settings
from streams.logistics import build_flow
from tests.helpers.databases import create_database, drop_database
from tests.helpers.logistics import demo_day, produce
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.subprocess

MILLSTREAM = str(Path(sys.executable).with_name("millstream"))


@pytest.fixture
def two_databases(server_url: str) -> Iterator[tuple[str, str]]:
    urls = (create_database(server_url, "millstream_crash"), create_database(server_url, "millstream_clean"))
    for url in urls:
        with connect(load_settings(database={"url": url}).database) as conn:
            migrate(conn, load_settings(database={"url": url}).database)
    yield urls
    for url in urls:
        drop_database(url)


def outbox(url: str) -> list[tuple[str, str, Any]]:
    with connect(load_settings(database={"url": url}).database) as conn:
        rows = conn.execute("SELECT event_id, record_type, record FROM erp_outbox ORDER BY event_id").fetchall()
    return [(r["event_id"], r["record_type"], r["record"]) for r in rows]


def start(settings: Settings, url: str, scenario_file: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MILLSTREAM_DATABASE__URL": url, "MILLSTREAM_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
           "MILLSTREAM_DATA_DIR": str(scenario_file.parent / "data")}
    return subprocess.Popen([MILLSTREAM, "logistics", "--scenario", str(scenario_file), *args],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.parametrize("mode", ["reread", "recovery"])
def test_kill_9_and_restart_gives_the_erp_each_record_once(settings: Settings, two_databases: tuple[str, str],
                                                           tmp_path: Path, mode: str) -> None:
    crash_url, clean_url = two_databases
    scenario, pings, _, _ = demo_day(seed=2)
    pings = pings[: len(pings) // 2]  # the first half of the day is enough to kill the flow mid-stream
    scenario_file = tmp_path / "scenario.json"
    scenario_file.write_text(scenario.model_dump_json())
    restart = ["--from-beginning"] if mode == "reread" else []
    half = len(pings) * 3 // 5
    produce(settings, pings[:half])

    proc = start(settings, crash_url, scenario_file, "--follow", "--snapshot-interval", "2")
    deadline = time.monotonic() + 60
    while len(outbox(crash_url)) < 20 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.5)
    if mode == "recovery":
        time.sleep(3)  # past a snapshot (every 2 s), so the restart resumes from one
    before_kill = len(outbox(crash_url))
    assert before_kill >= 20
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    produce(settings, pings[half:])
    again = start(settings, crash_url, scenario_file, "--once", *restart)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err.decode()

    run_main(build_flow(load_settings(kafka=settings.kafka.model_dump(), database={"url": clean_url}), scenario,
                        follow=False))
    crashed, clean = outbox(crash_url), outbox(clean_url)
    assert len(clean) > before_kill  # the kill really was mid-stream
    assert [r[0] for r in crashed] == [r[0] for r in clean]
    assert crashed == clean
