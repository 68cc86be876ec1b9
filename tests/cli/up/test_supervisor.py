"""Service supervision with real child processes: restart with backoff, give up loudly, stop everything."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from cli.up.services import RunContext, Service
from cli.up.supervisor import MAX_RESTARTS, Supervisor, SupervisorError
from millstream.run_status import read_status

pytestmark = pytest.mark.subprocess


def _ctx(tmp_path: Path) -> RunContext:
    (tmp_path / "logs").mkdir()
    return RunContext(workdir=tmp_path, data_dir=tmp_path, scenario=tmp_path / "s.yaml", speed=1.0, seed=0,
                      api_port=0, plant_port=0, erp_port=0, embedded_kafka=False, embedded_postgres=None)


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _watch_until(supervisor: Supervisor, condition, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        supervisor.watch_once()
        time.sleep(0.05)


def test_a_service_that_dies_is_reported_restarted_and_shown_in_the_status_file(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    marker = tmp_path / "started"
    # dies on its first start only: the restart stays up
    code = (f"import pathlib, sys, time; p = pathlib.Path({str(marker)!r}); first = not p.exists(); "
            "p.write_text('x'); print('up', flush=True); time.sleep(0.3 if first else 60); sys.exit(7)")
    reports: list[tuple[str, str]] = []
    supervisor = Supervisor(ctx, tmp_path / "status.json", lambda name, msg: reports.append((name, msg)))
    supervisor.start(Service("flaky", lambda _: _python(code)))
    first_pid = supervisor.children[0].state.pid
    try:
        _watch_until(supervisor, lambda: supervisor.children[0].state.state == "restarting")
        status = read_status(tmp_path / "status.json")
        assert status is not None and status.problems() == {"flaky": "restarting: exited with code 7; restart in 1 s"}
        _watch_until(supervisor, lambda: supervisor.children[0].state.restarts == 1)
        _watch_until(supervisor, lambda: supervisor.children[0].state.state == "running")
        assert supervisor.children[0].state.pid != first_pid
        assert [name for name, _ in reports] == ["flaky", "flaky"]
        assert "exited with code 7" in reports[0][1] and "restarted" in reports[1][1]
        assert (tmp_path / "logs" / "flaky.log").read_text().count("up") >= 2
    finally:
        supervisor.stop()
    assert not _alive(supervisor.children[0].state.pid or 0)


def test_a_service_that_keeps_dying_stops_the_run_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cli.up.supervisor.BACKOFF_MAX_S", 0.0)
    supervisor = Supervisor(_ctx(tmp_path), tmp_path / "status.json", lambda *_: None)
    supervisor.start(Service("crasher", lambda _: _python("import time, sys; time.sleep(0.2); "
                                                             "print('boom', flush=True); sys.exit(3)")))
    with pytest.raises(SupervisorError, match=r"crasher died \d+ times .*exit code 3.*crasher.log") as caught:
        _watch_until(supervisor, lambda: False, timeout_s=30)
    assert "boom" in str(caught.value)
    assert supervisor.children[0].state.restarts == MAX_RESTARTS
    supervisor.stop()


def test_a_service_that_fails_while_starting_is_named_with_its_log(tmp_path: Path) -> None:
    supervisor = Supervisor(_ctx(tmp_path), tmp_path / "status.json", lambda *_: None)
    with pytest.raises(SupervisorError, match=r"broken exited with code 2 while starting") as caught:
        supervisor.start(Service("broken", lambda _: _python("import sys; print('bad config'); sys.exit(2)"),
                                 ready=lambda _: False))
    assert "bad config" in str(caught.value)


def test_a_simulator_that_played_its_timeline_is_finished_not_failed(tmp_path: Path) -> None:
    supervisor = Supervisor(_ctx(tmp_path), tmp_path / "status.json", lambda *_: None)
    supervisor.start(Service("fleet", lambda _: _python("print('done')"), may_finish=True))
    _watch_until(supervisor, lambda: supervisor.children[0].state.state == "finished")
    status = read_status(tmp_path / "status.json")
    assert status is not None and status.problems() == {}


def test_stop_ends_every_process_group_in_time_even_one_that_ignores_sigterm(tmp_path: Path) -> None:
    supervisor = Supervisor(_ctx(tmp_path), tmp_path / "status.json", lambda *_: None)
    grandchild_file = tmp_path / "grandchild.pid"
    spawner = (f"import subprocess, sys, time, pathlib; p = subprocess.Popen([sys.executable, '-c', "
               f"'import time; time.sleep(60)']); pathlib.Path({str(grandchild_file)!r}).write_text(str(p.pid)); "
               "time.sleep(60)")
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('RE' + 'ADY', flush=True); " \
               "time.sleep(60)"
    supervisor.start(Service("spawner", lambda _: _python(spawner), ready=lambda _: grandchild_file.exists(),
                             stop_wave=0))
    supervisor.start(Service("stubborn", lambda _: _python(stubborn), stop_wave=1,
                             ready=lambda _: "READY" in (tmp_path / "logs" / "stubborn.log").read_text()))
    pids = [c.state.pid or 0 for c in supervisor.children] + [int(grandchild_file.read_text())]
    t0 = time.monotonic()
    killed = supervisor.stop(budget_s=4.0)
    assert time.monotonic() - t0 < 10
    assert killed == ["stubborn"]
    assert not any(_alive(pid) for pid in pids)
    status = read_status(tmp_path / "status.json")
    assert status is not None and {s.state for s in status.services} == {"stopped"}


def test_stop_uses_each_services_own_signal(tmp_path: Path) -> None:
    supervisor = Supervisor(_ctx(tmp_path), tmp_path / "status.json", lambda *_: None)
    code = ("import signal, sys, time; signal.signal(signal.SIGINT, lambda *_: (print('got SIGINT', flush=True), "
            "sys.exit(0))); print('RE' + 'ADY', flush=True); time.sleep(60)")
    log = tmp_path / "logs" / "pg.log"
    supervisor.start(Service("pg", lambda _: _python(code), stop_signal=signal.SIGINT,
                             ready=lambda _: "READY" in log.read_text()))
    assert supervisor.stop() == []
    assert "got SIGINT" in log.read_text()


def test_a_running_service_that_stops_answering_is_unhealthy_until_it_answers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cli.up.supervisor.HEALTH_INTERVAL_S", 0.0)
    answering = tmp_path / "answering"
    answering.write_text("yes")
    reports: list[tuple[str, str]] = []
    supervisor = Supervisor(_ctx(tmp_path), tmp_path / "status.json", lambda name, msg: reports.append((name, msg)))
    supervisor.start(Service("api", lambda _: _python("import time; time.sleep(60)"),
                             ready=lambda _: answering.exists()))
    try:
        answering.unlink()
        _watch_until(supervisor, lambda: supervisor.children[0].state.state == "unhealthy")
        status = read_status(tmp_path / "status.json")
        assert status is not None and "api" in status.problems()
        answering.write_text("yes")
        _watch_until(supervisor, lambda: supervisor.children[0].state.state == "running")
        assert [msg.split(" ")[0] for _, msg in reports] == ["[red]not", "healthy"]
    finally:
        supervisor.stop()
