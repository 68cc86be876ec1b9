"""The Bytewax sink pipelines write ERP records through: batches appended to the outbox.

Idempotent: the outbox keeps one row per event id, so a replay after a crash (or a record emitted twice)
adds nothing. Records of one ERP record key should come from one keyed stream, so that they are appended
(and later delivered) in the order the pipeline produced them.
"""

from __future__ import annotations

from connectors.erp.outbox import append_many
from connectors.postgres.sink import PostgresSink
from millstream.events.erp import ErpRecord
from millstream.settings import DatabaseSettings

__all__ = ["OutboxSink"]


class OutboxSink(PostgresSink[ErpRecord]):
    """``op.output("erp", records, OutboxSink(settings.database))``."""

    def __init__(self, database: DatabaseSettings) -> None:
        super().__init__(database, append_many, "ERP records")
