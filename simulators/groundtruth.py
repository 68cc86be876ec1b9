"""Ground truth: what really happened in a simulation, recorded as it happens (JSON lines).

Each simulator reports facts — a degradation onset, a failure, a repair, a counter reset, parts made for an
order, a truck's incident or actual arrival, a pallet passing a gate — as :class:`Fact` records. Tests and
evaluations compare the pipelines' alerts, stock and delay decisions against them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

__all__ = ["Fact", "GroundTruth", "read_facts"]


@dataclass(frozen=True)
class Fact:
    """One thing that happened: ``kind`` of fact about ``subject`` (machine, truck, tag...) at ``time``."""

    time: datetime
    kind: str
    subject: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"time": self.time.isoformat(), "kind": self.kind, "subject": self.subject, **self.details}


class GroundTruth:
    """Collects facts in memory and, when given a path, writes each one to a JSON-lines file at once.

    The file holds one run: an existing file at ``path`` is replaced, never appended to. ``sinks`` are called
    with each fact as it is recorded (``millstream simulate --ground-truth-db`` stores them in PostgreSQL).
    """

    def __init__(self, path: str | Path | None = None, sinks: Iterable[Callable[[Fact], None]] = ()) -> None:
        self.facts: list[Fact] = []
        self._file: IO[bytes] | None = Path(path).open("wb") if path is not None else None
        self._sinks = list(sinks)

    def record(self, time: datetime, kind: str, subject: str, **details: Any) -> Fact:
        fact = Fact(time, kind, subject, details)
        self.facts.append(fact)
        if self._file is not None:
            self._file.write(orjson.dumps(fact.as_json()) + b"\n")
            self._file.flush()
        for sink in self._sinks:
            sink(fact)
        return fact

    def of_kind(self, kind: str) -> list[Fact]:
        return [f for f in self.facts if f.kind == kind]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __iter__(self) -> Iterator[Fact]:
        return iter(self.facts)


def read_facts(path: str | Path) -> Iterable[dict[str, Any]]:
    """The facts of a ground-truth file as dicts (``time`` stays an ISO string)."""
    with Path(path).open("rb") as file:
        for line in file:
            if line.strip():
                yield orjson.loads(line)
