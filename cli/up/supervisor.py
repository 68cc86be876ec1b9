"""Run a list of services as child processes: start in order with readiness, watch, restart, stop cleanly.

Each child runs in its own process group (so its own children go with it) with its output in a log file.
A service that exits is reported and restarted after a backoff (1 s, doubling to 30 s); one that keeps
dying (``MAX_RESTARTS`` within ``RESTART_WINDOW_S``) stops the whole run with a message naming it and its
log. A service that may end (``may_finish``) and exits 0 is ``finished``, not failed. A running service's
readiness probe is repeated as its health check: failing three times in a row makes it ``unhealthy``.

:meth:`Supervisor.stop` ends the services in their stop waves (producers before the flows that drain them),
each group with its stop signal, then SIGKILL for what is left, all within ``STOP_BUDGET_S``. A child also
gets SIGTERM if the supervisor itself dies (``PR_SET_PDEATHSIG``), so no service outlives the run. The run's
state is written to the status file (:mod:`millstream.run_status`) that ``/readyz`` reads.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cli.up.services import RunContext, Service
from millstream.run_status import HEARTBEAT_S, RunStatus, ServiceState, write_status

__all__ = ["MAX_RESTARTS", "RESTART_WINDOW_S", "STOP_BUDGET_S", "Supervisor", "SupervisorError"]

MAX_RESTARTS = 5
RESTART_WINDOW_S = 120.0
STOP_BUDGET_S = 7.0
WAVE_MAX_S = 3.0
WAVE_MIN_S = 1.2
BACKOFF_MAX_S = 30.0
HEALTH_INTERVAL_S = 5.0
UNHEALTHY_AFTER = 3


class SupervisorError(Exception):
    """A service could not start or keeps dying; the message names it and its log file."""


@dataclass
class _Child:
    service: Service
    state: ServiceState
    process: subprocess.Popen[bytes] | None = None
    deaths: list[float] = field(default_factory=list)
    restart_at: float | None = None
    next_check: float = 0.0
    failed_checks: int = 0


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the supervisor dies, even by SIGKILL (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])


class Supervisor:
    """Owns the run's child processes. ``report(name, message)`` tells the user what happens."""

    def __init__(self, ctx: RunContext, status_file: Path, report: Callable[[str, str], None]) -> None:
        self.ctx = ctx
        self.status_file = status_file
        self.report = report
        self.children: list[_Child] = []
        self.status = RunStatus()
        self._last_write = 0.0

    # -- starting -------------------------------------------------------------------------------------
    def start(self, service: Service, timeout_s: float = 60.0) -> None:
        """Start ``service`` and wait until it is ready (its probe answers), or raise SupervisorError."""
        child = _Child(service, ServiceState(service.name, log=str(self._log_path(service))))
        self.children.append(child)
        self.status.services.append(child.state)
        self._spawn(child)
        deadline = time.monotonic() + timeout_s
        while not self._ready(child):
            code = child.process.poll() if child.process else None
            if code is not None:
                child.state.state, child.state.exit_code = "failed", code
                self._write(force=True)
                msg = (f"{service.name} exited with code {code} while starting (log: {child.state.log})\n"
                       f"{_tail(Path(child.state.log))}")
                raise SupervisorError(msg)
            if time.monotonic() > deadline:
                msg = (f"{service.name} was not ready within {timeout_s:.0f} s: {service.describe(self.ctx)} "
                       f"(log: {child.state.log})\n{_tail(Path(child.state.log))}")
                raise SupervisorError(msg)
            self._write()
            time.sleep(0.1)
        child.state.state = "running"
        self._write(force=True)

    def _log_path(self, service: Service) -> Path:
        return self.ctx.log_dir / f"{service.name}.log"

    def _spawn(self, child: _Child) -> None:
        service = child.service
        log = open(self._log_path(service), "ab")
        try:
            argv = service.argv(self.ctx)
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {service.name}: "
                      f"{' '.join(argv)}\n".encode())
            log.flush()
            child.process = subprocess.Popen(  # noqa: S603 - argv from the services table, no shell
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **self.ctx.env, **service.extra_env(self.ctx)}, cwd=self.ctx.workdir,
                start_new_session=True, user=service.user(self.ctx), preexec_fn=_die_with_parent)
        finally:
            log.close()
        child.state.pid = child.process.pid
        child.state.state = "starting"
        child.state.exit_code = None

    def _ready(self, child: _Child) -> bool:
        probe = child.service.ready
        try:
            return probe is None or probe(self.ctx)
        except Exception:  # a probe that errs means "not yet"
            return False

    # -- watching ---------------------------------------------------------------------------------------
    def watch_once(self) -> None:
        """Notice children that exited; restart those due; raise SupervisorError when one keeps dying."""
        now = time.monotonic()
        before = [(c.state.state, c.state.pid) for c in self.children]
        changed = self.status.phase != "running"
        self.status.phase = "running"
        for child in self.children:
            process, state = child.process, child.state
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restart_at = None
                    state.restarts += 1
                    self._spawn(child)
                    self.report(child.service.name, f"restarted (pid {state.pid})")
                continue
            if process is None or state.state in ("finished", "failed"):
                continue
            if state.state == "starting" and self._ready(child):
                state.state, state.detail = "running", ""
            code = process.poll()
            if code is None:
                self._check_health(child, now)
                continue
            if code == 0 and child.service.may_finish:
                state.state, state.exit_code, state.detail = "finished", 0, "played its whole timeline"
                self.report(child.service.name, "finished")
                continue
            child.deaths = [t for t in child.deaths if now - t < RESTART_WINDOW_S] + [now]
            state.exit_code = code
            if len(child.deaths) > MAX_RESTARTS:
                state.state = "failed"
                self._write(force=True)
                msg = (f"{child.service.name} died {len(child.deaths)} times within {RESTART_WINDOW_S:.0f} s "
                       f"(last exit code {code}; log: {state.log})\n{_tail(Path(state.log))}")
                raise SupervisorError(msg)
            backoff = min(BACKOFF_MAX_S, 2.0 ** (len(child.deaths) - 1))
            child.restart_at = now + backoff
            state.state, state.detail = "restarting", f"exited with code {code}; restart in {backoff:.0f} s"
            self.report(child.service.name, f"[red]exited with code {code}[/]; restarting in {backoff:.0f} s "
                                            f"(log: {state.log})")
        self._write(force=changed or before != [(c.state.state, c.state.pid) for c in self.children])

    def _check_health(self, child: _Child, now: float) -> None:
        """Every ``HEALTH_INTERVAL_S``: a running service whose probe fails ``UNHEALTHY_AFTER`` times in a row is
        ``unhealthy`` (reported; ``/readyz`` says so) until its probe answers again."""
        state = child.state
        if child.service.ready is None or state.state not in ("running", "unhealthy") or now < child.next_check:
            return
        child.next_check = now + HEALTH_INTERVAL_S
        if self._ready(child):
            child.failed_checks = 0
            if state.state == "unhealthy":
                state.state, state.detail = "running", ""
                self.report(child.service.name, "healthy again")
            return
        child.failed_checks += 1
        if child.failed_checks >= UNHEALTHY_AFTER and state.state == "running":
            state.state = "unhealthy"
            state.detail = f"{child.service.describe(self.ctx)}: not answering"
            self.report(child.service.name, f"[red]not answering[/] its health check (log: {state.log})")

    def _write(self, *, force: bool = False) -> None:
        if force or time.monotonic() - self._last_write >= HEARTBEAT_S / 2:
            write_status(self.status_file, self.status)
            self._last_write = time.monotonic()

    # -- stopping ---------------------------------------------------------------------------------------
    def stop(self, budget_s: float = STOP_BUDGET_S) -> list[str]:
        """Stop every child (by stop wave, then SIGKILL); returns the names that had to be killed. A wave gets
        at most ``WAVE_MAX_S`` and leaves ``WAVE_MIN_S`` to each later wave, all together ``budget_s``; what is
        left of a wave then is killed at once."""
        self.status.phase = "stopping"
        self._write(force=True)
        deadline = time.monotonic() + budget_s
        killed: list[str] = []
        waves = sorted({c.service.stop_wave for c in self.children})
        for index, wave in enumerate(waves):
            group = [c for c in self.children if c.service.stop_wave == wave]
            reserve = WAVE_MIN_S * (len(waves) - index - 1)  # the later waves (the database last) get their turn
            for child in group:
                child.restart_at = None
                self._signal(child, child.service.stop_signal)
                child.state.state = "stopping"
            wave_start = time.monotonic()
            wave_deadline = min(deadline - reserve, wave_start + WAVE_MAX_S)
            stopped_after: dict[str, float] = {}
            stubborn = []
            for child in group:
                if self._wait(child, wave_deadline):
                    stopped_after[child.service.name] = time.monotonic() - wave_start
                else:
                    stubborn.append(child)
            for child in stubborn:
                self._signal(child, signal.SIGKILL)
                killed.append(child.service.name)
            for child in stubborn:
                self._wait(child, time.monotonic() + 1.0)
            for child in group:
                child.state.state = "stopped"
                after = stopped_after.get(child.service.name)
                self._log_line(child, f"stopped after {after:.1f} s" if after is not None else
                               f"killed after {wave_deadline - wave_start:.1f} s")
            drain = max((c.service.drain_after_s for c in group), default=0.0)
            if wave != waves[-1] and drain and time.monotonic() + drain < deadline - reserve:
                time.sleep(drain)
        self._write(force=True)
        return killed

    @staticmethod
    def _log_line(child: _Child, text: str) -> None:
        try:
            with open(child.state.log, "a") as log:
                log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {child.service.name} {text}\n")
        except OSError:
            pass

    @staticmethod
    def _signal(child: _Child, sig: int) -> None:
        if child.process is None or child.process.poll() is not None:
            return
        try:
            os.killpg(child.process.pid, sig)
        except ProcessLookupError:
            pass

    @staticmethod
    def _wait(child: _Child, deadline: float) -> bool:
        if child.process is None:
            return True
        try:
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
        # the group may still hold grandchildren; they get the group's SIGKILL
        try:
            os.killpg(child.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return True
