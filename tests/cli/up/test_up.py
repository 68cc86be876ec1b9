"""``millstream up`` end to end on its embedded defaults: a mock broker and an embedded PostgreSQL in a tmp dir.

One run at a high speed: ready (every service running), metrics, data from every simulator without dead letters,
every pipeline's output through the API (machine scores, stock movements, schema-valid EPCIS events, shipment
milestones) with no dead letters of the pipelines' own stages either, auth; SIGTERM ends
every process it started within 10 s; a second run on the same data directory resumes: nothing lost, nothing
stored twice, nothing of the first run's timeline skipped although the broker came back empty.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from millstream.masterdata import read_scenario
from simulators.clock import run_scenario
from simulators.fleet.simulation import FleetSimulation
from tests.helpers.epcis import valid
from tests.helpers.net import free_port
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.subprocess

SPEED = 30.0
ADMIN_KEY = "test-admin-key-for-up"
_STARTED: list[subprocess.Popen[bytes]] = []


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    output: Path
    port: int

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def db_url(self) -> str:
        match = re.search(r"embedded PostgreSQL on 127\.0\.0\.1:(\d+)", self.text())
        assert match, self.text()
        return f"postgresql://postgres@127.0.0.1:{match[1]}/millstream"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("MILLSTREAM_KAFKA__", "MILLSTREAM_DATABASE__", "PROMETHEUS_MULTIPROC"))}
    return {**env, "PYTHONUNBUFFERED": "1"}


def _start(data_dir: Path, name: str) -> Run:
    port = free_port()
    output = data_dir.parent / f"{name}.out"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "up", "--speed", str(SPEED), "--admin-key", ADMIN_KEY, "--data-dir",
             str(data_dir), "--port", str(port), "--plant-port", str(free_port())],
            cwd=ROOT, env=_env(), stdout=out, stderr=subprocess.STDOUT)
    _STARTED.append(process)
    return Run(process, output, port)


def _get(url: str, key: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def _until(condition: Callable[[], Any], timeout_s: float, what: str, run: Run) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert run.process.poll() is None, f"millstream up exited while waiting for {what}:\n{run.text()}"
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"{what} not within {timeout_s:.0f} s:\n{run.text()}")


def _ready(run: Run) -> dict[str, Any]:
    return _until(lambda: (lambda r: json.loads(r[1]) if r[0] == 200 else None)(
        _get(f"http://127.0.0.1:{run.port}/readyz")), 120, "/readyz ready", run)


def _pids(data_dir: Path) -> list[int]:
    status = json.loads((data_dir / "run" / "status.json").read_text())
    return [s["pid"] for s in status["services"] if s["pid"]]


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def _processes_using(data_dir: Path) -> list[str]:
    """Live processes of a run on ``data_dir``: every service gets the run's metrics directory in its env."""
    found = []
    marker = f"PROMETHEUS_MULTIPROC_DIR={data_dir}".encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                environ = (proc / "environ").read_bytes().split(b"\0")
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if any(item.startswith(marker) for item in environ) and not _gone(int(proc.name)):
                found.append(f"{proc.name}: {cmdline}")
    return found


def _stop(run: Run, data_dir: Path) -> None:
    pids = _pids(data_dir)
    t0 = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    code = run.process.wait(timeout=15)
    elapsed = time.monotonic() - t0
    assert code == 0, run.text()
    assert elapsed < 10, f"stopping took {elapsed:.1f} s"
    assert all(_gone(pid) for pid in pids)
    assert _processes_using(data_dir) == []
    assert not (data_dir / "run" / "up.lock").exists()


#: Dead letters of the simulators' raw input (the bridge and ingest); the pipelines' own rejects are theirs.
FROM_SIMULATORS = "(stage LIKE 'ingest%' OR stage LIKE 'opcua%')"


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        counts = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
                  for table in ("sensor_readings", "gps_pings", "rfid_reads")}
        counts["dead_letters"] = conn.execute(
            f"SELECT count(*) FROM dead_letters WHERE {FROM_SIMULATORS}").fetchone()[0]  # type: ignore[index]
        return counts


def _pipeline_dead_letters(url: str) -> dict[tuple[str, str], int]:
    """Dead letters of the pipelines' own stages (maintenance, logistics, inventory, ...), by stage and error type."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT stage, error_type, count(*) FROM dead_letters WHERE NOT {FROM_SIMULATORS} "
                            "GROUP BY stage, error_type").fetchall()
    return {(stage, error_type): n for stage, error_type, n in rows}


def _api(run: Run, path: str) -> Any:
    code, body = _get(f"http://127.0.0.1:{run.port}/api/v1/{path}", ADMIN_KEY)
    return json.loads(body) if code == 200 else None


def _check_the_pipelines(run: Run, url: str) -> None:
    """Every flow of the run does its work: scores, movements, EPCIS events, shipment milestones, no dead letters."""
    machines = {m.id for m in read_scenario(ROOT / "scenarios" / "demo.yaml").machines}
    # The first plant model is trained in the background at start (cli/maintenance.py); scores follow it.
    scored = _until(lambda: (lambda ms: ms if ms and {m["id"] for m in ms if m["score"]} >= machines else None)(
        _api(run, "machines")), 150, "a maintenance score for every machine", run)
    assert {m["id"] for m in scored} >= machines
    kinds = _until(lambda: (lambda mv: {m["movement_type"] for m in mv} if mv and len(
        {m["movement_type"] for m in mv}) >= 2 else None)(_api(run, "movements?limit=1000")), 60,
        "stock movements of at least two kinds", run)
    assert len(kinds) >= 2, kinds
    document = _until(lambda: (lambda d: d if d and d["epcisBody"]["queryResults"]["resultsBody"][
        "eventList"] else None)(_api(run, "epcis/events")), 60, "EPCIS events", run)
    events = valid(document)["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert events and all(e["type"] == "ObjectEvent" for e in events), events[:2]
    _until(lambda: [s for s in _api(run, "shipments") or [] if s["status"] != "planned"], 90,
           "a shipment past planned (a milestone)", run)
    dead = _pipeline_dead_letters(url)
    assert dead == {}, dead


def _metric_families(text: str) -> set[str]:
    """Families (``# TYPE`` names) with at least one non-zero sample."""
    families = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE millstream_")]
    nonzero = set()
    for line in text.splitlines():
        if line.startswith("millstream_") and float(line.rsplit(" ", 1)[1]) != 0:
            nonzero.update(f for f in families if line.startswith(f))
    return nonzero


@pytest.fixture()
def data_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "state"
    yield directory
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()
    time.sleep(1)  # the services get SIGTERM when up dies; what is left is killed
    for pid_line in _processes_using(directory):  # never leave a run behind, whatever failed
        try:
            os.kill(int(pid_line.split(":")[0]), signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_up_runs_the_system_stops_cleanly_and_resumes(data_dir: Path) -> None:
    first = _start(data_dir, "first")
    ready = _ready(first)
    assert ready["status"] == "ready" and {"kafka", "postgres", "ingest", "bridge", "api"} <= set(ready["checks"])
    services = {k: v for k, v in ready["checks"].items() if k != "database"}
    assert all(state in ("running", "finished") for state in services.values()), ready
    assert {k: services.get(k) for k in ("maintenance", "logistics", "inventory")} == dict.fromkeys(
        ("maintenance", "logistics", "inventory"), "running"), ready
    url = first.db_url()
    counts = _until(lambda: (lambda c: c if min(c["sensor_readings"], c["gps_pings"], c["rfid_reads"]) > 0
                             else None)(_counts(url)), 90, "readings, pings and reads in the database", first)
    assert counts["dead_letters"] == 0, counts
    _check_the_pipelines(first, url)

    metrics = _get(f"http://127.0.0.1:{first.port}/metrics")[1].decode()
    families = _metric_families(metrics)
    assert {"millstream_events_in_total", "millstream_events_out_total", "millstream_events_accepted_total",
            "millstream_processing_latency_seconds"} <= families and len(families) >= 5, families
    assert _get(f"http://127.0.0.1:{first.port}/api/v1/alerts")[0] == 401
    assert _get(f"http://127.0.0.1:{first.port}/api/v1/alerts", ADMIN_KEY)[0] == 200
    assert _get(f"http://127.0.0.1:{first.port}/")[0] == 200

    time.sleep(5)  # let the world run a little longer
    _stop(first, data_dir)
    assert "stopped every service" in first.text()

    second = _start(data_dir, "second")
    _ready(second)
    resumed = re.search(r"resumed at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)Z", second.text())
    assert resumed, second.text()
    stopped_at = datetime.fromisoformat(resumed[1] + "+00:00")
    url = second.db_url()
    with psycopg.connect(url) as conn:
        origin = conn.execute("SELECT origin FROM simulation_runs").fetchone()[0]  # type: ignore[index]
    scenario = run_scenario(read_scenario(ROOT / "scenarios" / "demo.yaml"), origin)
    expected = {e.event.event_id for e in FleetSimulation(scenario, 0, days=7).timeline(origin)
                if e.event is not None and e.at <= stopped_at}

    def all_pings_of_the_first_run() -> bool:
        with psycopg.connect(url) as conn:
            stored = {r[0] for r in conn.execute("SELECT event_id FROM gps_pings")}
        return expected <= stored

    _until(all_pings_of_the_first_run, 60, "every ping of the first run's timeline", second)
    time.sleep(3)
    with psycopg.connect(url) as conn:
        duplicates = {
            table: conn.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} GROUP BY {key} "
                                "HAVING count(*) > 1) d").fetchone()[0]  # type: ignore[index]
            for table, key in (("sensor_readings", "machine_id, tag, time"), ("gps_pings", "truck_id, time"),
                               ("rfid_reads", "reader_id, antenna, epc, time"))}
        later = conn.execute("SELECT count(*) FROM sensor_readings WHERE time > %s", (stopped_at,)).fetchone()[0]  # type: ignore[index]
        dead = conn.execute(f"SELECT count(*) FROM dead_letters WHERE {FROM_SIMULATORS}").fetchone()[0]  # type: ignore[index]
    assert duplicates == {"sensor_readings": 0, "gps_pings": 0, "rfid_reads": 0}
    assert later > 0  # the plant goes on from where the clock stopped
    assert dead == 0
    assert _pipeline_dead_letters(url) == {}
    assert all(v >= counts[k] for k, v in _counts(url).items())
    _stop(second, data_dir)


def _up(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", "up", "--data-dir", str(data_dir), *args], cwd=ROOT,
                          env={**_env(), "COLUMNS": "300", **env}, capture_output=True, text=True, timeout=60)


def test_a_broken_scenario_stops_up_before_anything_starts(tmp_path: Path, data_dir: Path) -> None:
    broken = tmp_path / "broken.yaml"
    start = "start: '2026-11-22T07:40:00Z'"
    text = (ROOT / "scenarios" / "demo.yaml").read_text().replace(start, start + "\n  fleet: {gps_dropout: 2}")
    broken.write_text(text)
    result = _up(["--scenario", str(broken)], data_dir)
    assert result.returncode == 1
    assert str(broken) in result.stderr and "simulation.fleet.gps_dropout" in result.stderr
    assert not data_dir.exists()


def test_a_wrong_setting_is_named(data_dir: Path) -> None:
    result = _up([], data_dir, MILLSTREAM_API__PORT="eighty")
    assert result.returncode == 2 and "MILLSTREAM_API__PORT" in result.stderr
    assert not data_dir.exists()


def test_a_port_in_use_is_named(data_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _up(["--port", str(port)], data_dir)
    assert result.returncode == 3
    assert f"port {port}" in result.stderr and "--port" in result.stderr
    assert _processes_using(data_dir) == []


def test_ctrl_c_during_start_up_leaves_no_process_or_lock(data_dir: Path) -> None:
    run = _start(data_dir, "interrupted")
    _until(lambda: "postgres" in run.text(), 60, "the embedded database starting", run)
    run.process.send_signal(signal.SIGINT)
    assert run.process.wait(timeout=20) == 0, run.text()
    assert "SIGINT: stopping" in run.text() and "stopped every service" in run.text()
    time.sleep(0.5)
    assert _processes_using(data_dir) == []
    assert not (data_dir / "run" / "up.lock").exists()
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
