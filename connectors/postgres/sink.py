"""One Bytewax sink for every PostgreSQL writer: a connection per worker, one writer call per batch.

A writer is ``write(conn, items) -> rows_added``; it runs its statements in one transaction and must be
idempotent (upsert / ``ON CONFLICT DO NOTHING`` on the stable event id), so a replay after a crash adds
nothing. The time-series writers, the ERP outbox and the alert store all go through this sink.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import psycopg
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors.postgres.database import connect
from millstream.metrics import EVENTS_OUT
from millstream.settings import DatabaseSettings

__all__ = ["PostgresSink", "Writer"]

logger = logging.getLogger(__name__)

X = TypeVar("X")
Writer = Callable[[psycopg.Connection[Any], list[X]], int]


class _Partition(StatelessSinkPartition[X]):
    def __init__(self, database: DatabaseSettings, write: Writer[X], step_id: str, what: str) -> None:
        self._conn: psycopg.Connection[Any] = connect(database, autocommit=True)
        self._write = write
        self._step_id = step_id
        self._what = what

    def write_batch(self, items: list[X]) -> None:
        added = self._write(self._conn, items)
        EVENTS_OUT.labels(self._step_id).inc(len(items))
        if added < len(items):
            logger.debug("%s: %s of %s %s were already stored", self._step_id, len(items) - added, len(items),
                         self._what)

    def close(self) -> None:
        self._conn.close()


class PostgresSink(DynamicSink[X], Generic[X]):
    """``op.output("store", stream, PostgresSink(settings.database, store_readings, "readings"))``."""

    def __init__(self, database: DatabaseSettings, write: Writer[X], what: str = "items") -> None:
        self._database = database
        self._write = write
        self._what = what

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition[X]:
        return _Partition(self._database, self._write, step_id, self._what)
