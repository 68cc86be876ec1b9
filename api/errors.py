"""Database errors as HTTP answers: bad references 422 naming the field, conflicts 409, an unreachable
database 503. Nothing internal (SQL, connection strings, stack traces) reaches the client.

Handlers raise :func:`field_error` for their own input checks so every 422 has FastAPI's shape:
``{"detail": [{"loc": ["body", "site_id"], "msg": "...", "type": "..."}]}``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import psycopg
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import errors as pg
from psycopg_pool import PoolTimeout

__all__ = ["field_error", "install_error_handlers"]

logger = logging.getLogger(__name__)

_KEY_DETAIL = re.compile(r'^Key \((?P<columns>[^)]*)\)=\((?P<values>.*)\) (?P<rest>.*)$')

#: Child-table columns that the API's input carries under another name.
_INPUT_FIELD = {
    ("bom_lines", "material_id"): ("components",),
    ("shipment_items", "material_id"): ("items",),
    ("machines", "location_id"): ("location_id",),
}


def field_error(loc: tuple[str | int, ...], msg: str, error_type: str = "value_error") -> RequestValidationError:
    """A 422 for the input field at ``loc`` (e.g. ``("body", "id")``)."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": error_type}])


def _key(exc: psycopg.Error) -> tuple[list[str], str]:
    match = _KEY_DETAIL.match(exc.diag.message_detail or "")
    if not match:
        return [], ""
    return [c.strip() for c in match["columns"].split(",")], match["values"]


def _foreign_key(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, psycopg.Error)
    columns, value = _key(exc)
    table = exc.diag.table_name or ""
    detail = exc.diag.message_detail or ""
    if "is still referenced" in detail:
        return JSONResponse({"detail": f"still referenced by {table or 'another record'}"},
                            status.HTTP_409_CONFLICT)
    referenced = re.search(r'table "([^"]+)"', detail)
    target = referenced[1].removesuffix("s").replace("_", " ") if referenced else "record"
    column = columns[0] if columns else "reference"
    loc = ("body", *_INPUT_FIELD.get((table, column), (column,)))
    return _validation([{"loc": loc, "msg": f"unknown {target} {value!r}", "type": "foreign_key"}])


def _unique(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, psycopg.Error)
    columns, value = _key(exc)
    what = f" with {', '.join(columns)} {value!r}" if columns else ""
    table = (exc.diag.table_name or "records").removesuffix("s").replace("_", " ")
    return JSONResponse({"detail": f"conflicts with an existing {table}{what}"}, status.HTTP_409_CONFLICT)


def _check(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, psycopg.Error)
    constraint = exc.diag.constraint_name or "a constraint"
    return _validation([{"loc": ("body",), "msg": f"violates {constraint}", "type": "check_violation"}])


def _data(request: Request, exc: Exception) -> JSONResponse:
    # Values the database cannot store (NUL characters, integers out of range ...).
    reason = (exc.diag.message_primary if isinstance(exc, psycopg.Error) else None) or str(exc).splitlines()[0]
    return _validation([{"loc": ("body",), "msg": f"value cannot be stored: {reason}", "type": "data_error"}])


def _unencodable(request: Request, exc: Exception) -> JSONResponse:
    # Text that is not valid Unicode (a lone surrogate) that got past validation: the input's fault.
    return _validation([{"loc": ("body",), "msg": "text is not valid Unicode (lone surrogate)",
                         "type": "unicode_error"}])


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.error("database unavailable for %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return JSONResponse({"detail": "database unavailable"}, status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": "5"})


def _validation(errors: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": errors}, status.HTTP_422_UNPROCESSABLE_CONTENT)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(pg.ForeignKeyViolation, _foreign_key)
    app.add_exception_handler(pg.UniqueViolation, _unique)
    app.add_exception_handler(pg.CheckViolation, _check)
    app.add_exception_handler(pg.NotNullViolation, _check)
    app.add_exception_handler(psycopg.DataError, _data)
    app.add_exception_handler(UnicodeEncodeError, _unencodable)
    app.add_exception_handler(PoolTimeout, _unavailable)
    app.add_exception_handler(psycopg.OperationalError, _unavailable)
