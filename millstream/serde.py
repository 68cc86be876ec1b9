"""The one place where events become bytes and bytes become events (orjson).

:func:`decode` never lets a raw input escape as an untyped exception: it raises :class:`DecodeError` with a
precise reason (``lat: Input should be less than or equal to 90``) and an error type
(``malformed_json``, ``not_an_object``, ``validation``, ``invalid_input`` for anything else the bytes of one
message provoke: overflow, recursion depth, encoding) that dead letters and metrics keep.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import orjson
import yaml
from pydantic import BaseModel, ValidationError

from millstream.errors import DecodeError
from millstream.events.base import DEFAULT_TIME_POLICY, TimePolicy

__all__ = ["decode", "decode_json", "encode", "field_path", "format_validation_error", "read_document", "to_jsonable"]

E = TypeVar("E", bound=BaseModel)

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


def to_jsonable(model: BaseModel) -> dict[str, Any]:
    """A model as plain Python data (datetimes stay datetimes; orjson formats them)."""
    return model.model_dump(mode="python")


def encode(model: BaseModel) -> bytes:
    """Serialise an event (or any model) to compact JSON bytes; datetimes as RFC 3339 with ``Z``."""
    return orjson.dumps(to_jsonable(model), option=_OPTIONS)


def decode_json(raw: bytes | str | None) -> Any:
    """Parse JSON, raising :class:`DecodeError` (``malformed_json``) with the parser's position."""
    if raw is None:
        msg = "empty message (no value)"
        raise DecodeError(msg, "malformed_json")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        msg = f"malformed JSON: {exc}"
        raise DecodeError(msg, "malformed_json") from None


def decode(
    raw: bytes | str | None,
    model: type[E],
    *,
    time_policy: TimePolicy | None = DEFAULT_TIME_POLICY,
    now: datetime | None = None,
) -> E:
    """Bytes -> validated event of type ``model``; :class:`DecodeError` with the reason otherwise.

    ``now`` is the time the :class:`TimePolicy` measures against (the record's timestamp at the edge).
    """
    try:
        data = decode_json(raw)
    except (RecursionError, ValueError, TypeError) as exc:  # orjson's own errors are ValueErrors
        raise DecodeError(f"malformed JSON: {type(exc).__name__}: {exc}", "malformed_json") from None
    if not isinstance(data, dict):
        msg = f"expected a JSON object for {model.__name__}, got {type(data).__name__}"
        raise DecodeError(msg, "not_an_object")
    variant = getattr(model, "variant", None)
    chosen = cast(type[E], variant(data)) if variant is not None else model  # one topic, several kinds
    try:
        return chosen.model_validate(data, context={"time_policy": time_policy, "now": now})
    except ValidationError as exc:
        raise DecodeError(f"{chosen.__name__}: {format_validation_error(exc)}", "validation") from None
    except (ArithmeticError, RecursionError, ValueError, TypeError, UnicodeError) as exc:
        msg = f"{chosen.__name__}: {type(exc).__name__}: {exc}"
        raise DecodeError(msg, "invalid_input") from None


def field_path(loc: tuple[int | str, ...], root: str = "") -> str:
    """A validation location as a path: ``("machines", 2, "site_id")`` -> ``machines[2].site_id``."""
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def read_document(path: Path, what: str) -> Any:
    """Parse a YAML (any other suffix) or JSON (``.json``) file; :class:`DecodeError` names the file.

    ``what`` says what the file is for in messages (``scenario file``, ``OPC-UA config``).
    """
    try:
        text = path.read_bytes()
    except OSError as exc:
        msg = f"{path}: cannot read {what}: {exc.strerror or exc}"
        raise DecodeError(msg, "unreadable") from None
    is_json = path.suffix.lower() == ".json"
    try:
        return orjson.loads(text) if is_json else yaml.safe_load(text)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        msg = f"{path}: not valid {'JSON' if is_json else 'YAML'}: {exc}"
        raise DecodeError(msg, "malformed_document") from None


def format_validation_error(exc: ValidationError, root: str = "") -> str:
    """``field.path: message`` for each error, joined with ``; `` (values are not echoed).

    ``root`` prefixes every path (e.g. ``simulation`` for a nested section validated on its own).
    """
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        message = err["msg"].removeprefix("Value error, ")
        path = field_path(err["loc"], root)
        parts.append(f"{path}: {message}" if path else message)
    return "; ".join(parts)
