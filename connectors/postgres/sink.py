"""One Bytewax sink for every PostgreSQL writer: a connection per worker, one writer call per batch.

A writer is ``write(conn, items) -> rows_added`` (or ``None``); it runs its statements in one transaction and must be
idempotent (upsert / ``ON CONFLICT DO NOTHING`` on the stable event id), so a replay after a crash adds
nothing. The time-series writers, the ERP outbox and the alert store all go through this sink.

A sink never blocks its partition forever:

- **Transient failures** (connection lost, database restarting or shutting down, too many connections,
  serialization conflicts) are retried with backoff (``database.retry_initial_s`` doubling to
  ``retry_max_s``) on a fresh connection, for as long as it takes; each retry is logged and counted in
  ``millstream_sink_retries_total``. Because writers are idempotent, a batch whose commit was lost with the
  connection is simply written again.
- **A row the database refuses** (a value it cannot hold, a violated constraint): the batch is written again
  in halves, down to single rows, and each refused row becomes a dead letter (stage ``store``, the event as
  payload, the database's reason), stored in ``dead_letters`` and handed to ``publish`` (the ingest flow
  publishes them to ``dlq``); the other rows are written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import psycopg
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from pydantic import BaseModel

from connectors.postgres.database import DatabaseError, connect
from connectors.postgres.timeseries import store_dead_letters
from millstream.events import DeadLetter
from millstream.metrics import DEAD_LETTERS, EVENTS_OUT, SINK_RETRIES
from millstream.serde import encode
from millstream.settings import DatabaseSettings

__all__ = ["STORE_STAGE", "PostgresSink", "Publisher", "Writer", "is_transient"]

logger = logging.getLogger(__name__)

X = TypeVar("X")
T = TypeVar("T")
Writer = Callable[[psycopg.Connection[Any], list[X]], int | None]
Publisher = Callable[[list[DeadLetter]], None]

#: The dead-letter stage of rows the database refused.
STORE_STAGE = "store"

#: SQLSTATE classes that say "try again later", not "this row is wrong": connection exception, operator
#: intervention (admin shutdown, database starting up), transaction rollback, insufficient resources.
_TRANSIENT_CLASSES = frozenset({"08", "57", "40", "53"})
_QUERY_CANCELED = "57014"


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the database or the connection rather than of the data written."""
    if isinstance(exc, DatabaseError | psycopg.InterfaceError):
        return True
    if isinstance(exc, psycopg.OperationalError):
        state = exc.sqlstate
        return state is None or (state[:2] in _TRANSIENT_CLASSES and state != _QUERY_CANCELED)
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _refusal(exc: BaseException) -> str:
    """The database's reason for refusing a row (no values from the row beyond what PostgreSQL says)."""
    if isinstance(exc, psycopg.Error):
        primary = exc.diag.message_primary or _first_line(exc)
        return f"{primary} (SQLSTATE {exc.sqlstate})" if exc.sqlstate else primary
    return f"{type(exc).__name__}: {_first_line(exc)}"


def _payload(item: Any) -> bytes:
    try:
        return encode(item) if isinstance(item, BaseModel) else repr(item).encode("utf-8", "backslashreplace")
    except Exception:  # an item that cannot even be encoded is still kept, as its repr
        return repr(item).encode("utf-8", "backslashreplace")


class _Partition(StatelessSinkPartition[X]):
    def __init__(self, sink: PostgresSink[X], step_id: str) -> None:
        self._sink = sink
        self._step_id = step_id
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._sink.database, autocommit=True)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None

    def _retrying(self, action: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``action(conn)``, retried on transient failures with backoff and a fresh connection."""
        settings = self._sink.database
        delay = settings.retry_initial_s
        attempt = 0
        while True:
            try:
                result = action(self._connection())
            except Exception as exc:
                if not is_transient(exc):
                    raise
                attempt += 1
                SINK_RETRIES.labels(self._step_id).inc()
                logger.warning("%s: database unavailable (%s); retry %d in %.1f s", self._step_id,
                               _first_line(exc), attempt, delay)
                self._drop_connection()
                time.sleep(delay)
                delay = min(delay * 2, settings.retry_max_s)
                continue
            if attempt:
                logger.warning("%s: database back after %d retries; writing again", self._step_id, attempt)
            return result

    def write_batch(self, items: list[X]) -> None:
        write = self._sink.write
        EVENTS_OUT.labels(self._step_id).inc(len(items))
        try:
            added = self._retrying(lambda conn: write(conn, items))
        except Exception as exc:
            logger.info("%s: a batch of %d %s was refused (%s); writing row by row", self._step_id, len(items),
                        self._sink.what, _refusal(exc))
            self._write_rows(items)
            return
        if added is not None and added < len(items):
            logger.debug("%s: %s of %s %s were already stored", self._step_id, len(items) - added, len(items),
                         self._sink.what)

    def _write_rows(self, items: list[X]) -> None:
        """Write ``items`` (whose batch was refused) in halves down to single rows; refused rows are rejected."""
        refused: list[DeadLetter] = []
        mid = len(items) // 2
        for part in (items[:mid], items[mid:]):
            self._bisect(part, refused)
        if refused:
            self._reject(refused)

    def _bisect(self, items: list[X], refused: list[DeadLetter]) -> None:
        if not items:
            return
        write = self._sink.write
        try:
            self._retrying(lambda conn: write(conn, items))
            return
        except Exception as exc:
            if len(items) == 1:
                refused.append(DeadLetter.of(_payload(items[0]), stage=STORE_STAGE, error_type=STORE_STAGE,
                                             reason=f"{self._sink.what}: {_refusal(exc)}"))
                return
        mid = len(items) // 2
        self._bisect(items[:mid], refused)
        self._bisect(items[mid:], refused)

    def _reject(self, letters: list[DeadLetter]) -> None:
        DEAD_LETTERS.labels(STORE_STAGE, STORE_STAGE).inc(len(letters))
        if not self._sink.keep_rejects:
            for letter in letters:
                logger.error("%s: refused and not kept: %s (payload sha256 %s)", self._step_id, letter.reason,
                             letter.payload_sha256)
            return
        for letter in letters:
            logger.warning("%s: row refused, dead-lettered %s: %s", self._step_id, letter.id, letter.reason)
        self._retrying(lambda conn: store_dead_letters(conn, letters))
        if self._sink.publish is not None:
            self._sink.publish(letters)

    def close(self) -> None:
        self._drop_connection()


class PostgresSink(DynamicSink[X], Generic[X]):
    """``op.output("store", stream, PostgresSink(settings.database, store_readings, "readings"))``.

    ``publish`` receives the dead letters of refused rows after they are stored (e.g. to send them to the
    ``dlq`` topic too; flows fed by Kafka pass :class:`streams.kafka_io.DlqPublisher` so that ``dlq`` and
    ``dead_letters`` hold the same letters). The dead-letter sink itself (``store_dead_letters``, or
    ``keep_rejects=False``) logs a refused dead letter instead of dead-lettering it again.
    """

    def __init__(
        self,
        database: DatabaseSettings,
        write: Writer[X],
        what: str = "items",
        *,
        publish: Publisher | None = None,
        keep_rejects: bool = True,
    ) -> None:
        self.database = database
        self.write = write
        self.what = what
        self.publish = publish
        # The dead-letter sink never dead-letters its own refusals (that would loop): they are logged.
        self.keep_rejects = keep_rejects and write is not store_dead_letters

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition[X]:
        return _Partition(self, step_id)
