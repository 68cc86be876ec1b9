"""The simulators' ground truth in PostgreSQL (table ``ground_truth``): idempotent store, queries, a writer.

A fact is ``(time, kind, subject, details)`` — the shape of :class:`simulators.groundtruth.Fact`, duck-typed
here (connectors sit below simulators). Its id is a SHA-256 of the four, canonically serialised, so the same
fact recorded again (a replayed timeline, a restarted simulator) inserts nothing. :class:`GroundTruthWriter`
stores facts from a background thread in batches, retrying while the database is away, so a simulator never
waits on it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from connectors.postgres.database import connect, executemany
from connectors.postgres.filters import Filters
from millstream.settings import DatabaseSettings

__all__ = ["FactLike", "GroundTruthWriter", "StoredFact", "fact_id", "query_facts", "store_facts"]

logger = logging.getLogger(__name__)


class FactLike(Protocol):
    """What is stored of a fact (read-only: a frozen :class:`simulators.groundtruth.Fact` is one)."""

    @property
    def time(self) -> datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def details(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class StoredFact:
    id: str
    time: datetime
    kind: str
    subject: str
    details: dict[str, Any]
    source: str
    run: str


def _utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC) if instant.tzinfo else instant.replace(tzinfo=UTC)


def _details(details: Mapping[str, Any]) -> bytes:
    return orjson.dumps(dict(details), option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)


def fact_id(time: datetime, kind: str, subject: str, details: Mapping[str, Any]) -> str:
    """The stable id of a fact: SHA-256 (hex) of its UTC time, kind, subject and sorted details."""
    canonical = orjson.dumps([_utc(time).isoformat(), kind, subject]) + b"\x00" + _details(details)
    return hashlib.sha256(canonical).hexdigest()


_INSERT = ("INSERT INTO ground_truth (id, time, kind, subject, details, source, run)"
           " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING")


def store_facts(conn: Any, facts: Iterable[FactLike], source: str, run: str = "") -> int:
    """Insert facts in one transaction (a fact already stored adds nothing); returns how many were new."""
    rows = []
    seen: set[str] = set()
    for f in facts:
        fid = fact_id(f.time, f.kind, f.subject, f.details)
        if fid in seen:
            continue
        seen.add(fid)
        rows.append((fid, _utc(f.time), f.kind, f.subject, Jsonb(orjson.loads(_details(f.details))), source, run))
    return executemany(conn, _INSERT, rows)


def query_facts(conn: Any, *, kinds: Sequence[str] | None = None, since: datetime | None = None,
                until: datetime | None = None, source: str | None = None, subject: str | None = None,
                limit: int | None = None) -> list[StoredFact]:
    """Facts in time order, optionally of some kinds, in ``[since, until)``, of one source or subject."""
    where = (Filters().add("kind = ANY(%s)", list(kinds) if kinds is not None else None)
             .add("time >= %s", since).add("time < %s", until).add("source = %s", source)
             .add("subject = %s", subject))
    if kinds is not None and not kinds:
        return []
    query = (f"SELECT id, time, kind, subject, details, source, run FROM ground_truth {where.clause}"  # noqa: S608
             " ORDER BY time, id LIMIT %s")
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, [*where.params, limit]).fetchall()
    return [StoredFact(**r) for r in rows]


class GroundTruthWriter:
    """Stores facts handed to :meth:`add` from a background thread, in batches every ``interval_s``.

    While the database is unreachable the facts wait in memory and the writer retries (backoff up to 30 s);
    :meth:`close` stores what is left (trying for at most ``close_timeout_s``).
    """

    def __init__(self, settings: DatabaseSettings, source: str, run: str = "", *, interval_s: float = 1.0,
                 close_timeout_s: float = 10.0) -> None:
        self.settings, self.source, self.run = settings, source, run
        self.interval_s, self.close_timeout_s = interval_s, close_timeout_s
        self.stored = 0
        self._pending: list[FactLike] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: Any = None
        self._thread = threading.Thread(target=self._loop, name=f"ground-truth-{source}", daemon=True)
        self._thread.start()

    def add(self, fact: FactLike) -> None:
        with self._lock:
            self._pending.append(fact)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _flush(self) -> bool:
        """Store what is pending; False if the database refused (the facts stay pending)."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return True
        try:
            if self._conn is None or self._conn.closed:
                self._conn = connect(self.settings)
            self.stored += store_facts(self._conn, batch, self.source, self.run)
            return True
        except Exception as exc:  # any database failure (DatabaseError, psycopg errors): retry later
            logger.warning("ground truth: %d facts not stored yet (%s); retrying", len(batch), exc)
            with self._lock:
                self._pending[:0] = batch
            if self._conn is not None:
                try:
                    self._conn.close()
                except Exception:  # noqa: S110 - already broken
                    pass
                self._conn = None
            return False

    def _loop(self) -> None:
        delay = self.interval_s
        while not self._stop.wait(delay):
            delay = self.interval_s if self._flush() else min(max(delay * 2, 1.0), 30.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.close_timeout_s)
        deadline = threading.Event()
        timer = threading.Timer(self.close_timeout_s, deadline.set)
        timer.start()
        try:
            while self.pending and not deadline.is_set() and not self._flush():
                deadline.wait(0.5)
        finally:
            timer.cancel()
        if self.pending:
            logger.error("ground truth: %d facts could not be stored", self.pending)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
