"""The Bytewax sink pipelines write ERP records through: batches appended to the outbox.

Idempotent: the outbox keeps one row per event id, so a replay after a crash (or a record emitted twice)
adds nothing. Records of one ERP record key should come from one keyed stream, so that they are appended
(and later delivered) in the order the pipeline produced them.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors.erp.outbox import append_many
from connectors.postgres.database import connect
from millstream.events.erp import ErpRecord
from millstream.settings import DatabaseSettings

__all__ = ["OutboxSink"]

logger = logging.getLogger(__name__)


class _OutboxPartition(StatelessSinkPartition[ErpRecord]):
    def __init__(self, database: DatabaseSettings, step_id: str) -> None:
        self._conn: psycopg.Connection[Any] = connect(database, autocommit=True)
        self._step_id = step_id

    def write_batch(self, items: list[ErpRecord]) -> None:
        added = append_many(self._conn, items)
        if added < len(items):
            logger.info("%s: %s of %s ERP records were already in the outbox", self._step_id,
                        len(items) - added, len(items))

    def close(self) -> None:
        self._conn.close()


class OutboxSink(DynamicSink[ErpRecord]):
    """``op.output("erp", records, OutboxSink(settings.database))``."""

    def __init__(self, database: DatabaseSettings) -> None:
        self._database = database

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _OutboxPartition:
        return _OutboxPartition(self._database, step_id)
