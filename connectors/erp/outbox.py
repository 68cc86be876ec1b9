"""The ERP outbox: pipelines append records here, idempotently (one row per event id).

``append`` runs inside the caller's transaction when there is one, so a pipeline can write its own state
and the record atomically. The dispatcher (:mod:`connectors.erp.dispatcher`) reads the outbox in ``seq``
order and fans each record out to the matching webhook endpoints.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from millstream.events.base import WITHOUT_TIME_CHECK
from millstream.events.erp import ErpRecord, OutboxRow, outbox_row

__all__ = ["append", "append_bulk", "append_many", "append_rows", "copy_new_rows", "get_record"]

_INSERT = """
INSERT INTO erp_outbox (event_id, record_type, record_key, subject_kind, subject_id, occurred_at,
                        erp_keys, record)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (event_id) DO NOTHING
RETURNING seq
"""


def _row(record: ErpRecord) -> tuple[Any, ...]:
    data = record.model_dump(mode="json")
    return (record.id, record.record_type, record.record_key, record.subject_kind, record.subject_id,
            record.occurred_at, Jsonb(data["erp_keys"]), Jsonb(data))


def append(conn: Any, record: ErpRecord) -> bool:
    """Add ``record`` to the outbox; ``False`` if a record with its event id is already there."""
    with conn.transaction():
        return conn.execute(_INSERT, _row(record)).fetchone() is not None


def append_many(conn: Any, records: Iterable[ErpRecord]) -> int:
    """Add records in order, in one transaction; returns how many were new."""
    added = 0
    with conn.transaction(), conn.cursor() as cur:
        for record in records:
            cur.execute(_INSERT, _row(record))
            added += cur.fetchone() is not None
    return added


_COLUMNS = "event_id, record_type, record_key, subject_kind, subject_id, occurred_at, erp_keys, record"


def append_bulk(conn: Any, records: list[ErpRecord]) -> int:
    """:func:`append_many` for large batches: see :func:`append_rows`."""
    return append_rows(conn, [outbox_row(r) for r in records])


_COPY_TYPES = ["integer", "text", "text", "text", "text", "text", "timestamptz", "text", "text"]


def append_rows(conn: Any, rows: list[OutboxRow]) -> int:
    """Add outbox rows in order, idempotently, for large batches (a ledger's postings): the rows are copied into
    a temporary table and inserted by one statement; runs in the caller's transaction when there is one.
    Returns how many were new."""
    if not rows:
        return 0
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS outbox_rows (ord integer, event_id text, record_type text, "
                    "record_key text, subject_kind text, subject_id text, occurred_at timestamptz, erp_keys text, "
                    "record text) ON COMMIT DELETE ROWS")
        with cur.copy(f"COPY outbox_rows (ord, {_COLUMNS}) FROM STDIN") as copy:
            copy.set_types(_COPY_TYPES)
            for i, row in enumerate(rows):
                copy.write_row((i, *row[:6], _json(row.record["erp_keys"]), _json(row.record)))
        cur.execute(f"INSERT INTO erp_outbox ({_COLUMNS}) SELECT event_id, record_type, record_key, "  # noqa: S608
                    "subject_kind, subject_id, occurred_at, erp_keys::jsonb, record::jsonb FROM outbox_rows "
                    "ORDER BY ord ON CONFLICT (event_id) DO NOTHING")
        return max(cur.rowcount, 0)


def copy_new_rows(conn: Any, rows: list[OutboxRow]) -> int:
    """Add rows whose event ids cannot be in the outbox yet (they derive from what the caller's transaction
    adds, e.g. movements the ledger has just applied) straight by ``COPY``, in order; a duplicate id is an
    error (the unique constraint), never a silent second row."""
    if not rows:
        return 0
    with conn.transaction(), conn.cursor() as cur, cur.copy(f"COPY erp_outbox ({_COLUMNS}) FROM STDIN") as copy:
        copy.set_types(_COPY_TYPES[1:])  # the JSON goes as text; the server parses it into jsonb
        for row in rows:
            copy.write_row((*row[:6], _json(row.record["erp_keys"]), _json(row.record)))
    return len(rows)


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_UTC_Z).decode()


def get_record(conn: Any, event_id: str) -> ErpRecord | None:
    """The record with ``event_id`` as it was appended, or ``None``."""
    row = conn.execute("SELECT record FROM erp_outbox WHERE event_id = %s", (event_id,)).fetchone()
    if row is None:
        return None
    record = row["record"] if isinstance(row, dict) else row[0]
    return ErpRecord.model_validate(record, context=WITHOUT_TIME_CHECK)
