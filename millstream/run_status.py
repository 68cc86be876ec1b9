"""The state of a ``millstream up`` run's services, as a JSON file the supervisor writes and ``/readyz`` reads.

The supervisor rewrites the file (atomically) at least every :data:`HEARTBEAT_S` seconds. A reader treats a
file older than :data:`STALE_AFTER_S` as "the supervisor is gone": nothing it says is current.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["HEARTBEAT_S", "STALE_AFTER_S", "RunStatus", "ServiceState", "read_status", "write_status"]

HEARTBEAT_S = 2.0
STALE_AFTER_S = 15.0

State = Literal["starting", "running", "unhealthy", "finished", "restarting", "failed", "stopping", "stopped"]
#: States in which a service does its job (``finished``: a simulator that played its whole timeline).
HEALTHY: frozenset[str] = frozenset({"running", "finished"})


@dataclass
class ServiceState:
    name: str
    state: State = "starting"
    pid: int | None = None
    restarts: int = 0
    exit_code: int | None = None
    detail: str = ""
    log: str = ""


@dataclass
class RunStatus:
    """Every service of the run; ``phase`` is ``starting``, ``running`` or ``stopping``."""

    phase: str = "starting"
    updated_at: float = 0.0
    services: list[ServiceState] = field(default_factory=list)

    def problems(self) -> dict[str, str]:
        """Service name -> what is wrong with it (empty when the whole run is up)."""
        if time.time() - self.updated_at > STALE_AFTER_S:
            return {"supervisor": f"no report for {time.time() - self.updated_at:.0f} s"}
        found = {s.name: f"{s.state}{': ' + s.detail if s.detail else ''}" for s in self.services
                 if s.state not in HEALTHY}
        if self.phase != "running":
            found.setdefault("run", self.phase)
        return found


def write_status(path: Path, status: RunStatus) -> None:
    status.updated_at = time.time()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(asdict(status), indent=1))
    os.replace(tmp, path)


def read_status(path: Path) -> RunStatus | None:
    """The last status written to ``path``, or ``None`` when there is none (or it is unreadable)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return RunStatus(phase=data["phase"], updated_at=float(data["updated_at"]),
                         services=[ServiceState(**s) for s in data["services"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None
