"""The one place where events become bytes and bytes become events (orjson).

:func:`decode` never lets a raw input escape as an untyped exception: it raises :class:`DecodeError` with a
precise reason (``lat: Input should be less than or equal to 90``) and an error type
(``malformed_json``, ``not_an_object``, ``validation``) that dead letters and metrics keep.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from millstream.errors import DecodeError
from millstream.events.base import DEFAULT_TIME_POLICY, TimePolicy

__all__ = ["decode", "decode_json", "encode", "field_path", "format_validation_error", "to_jsonable"]

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
    raw: bytes | str | None, model: type[E], *, time_policy: TimePolicy | None = DEFAULT_TIME_POLICY
) -> E:
    """Bytes -> validated event of type ``model``; :class:`DecodeError` with the reason otherwise."""
    data = decode_json(raw)
    if not isinstance(data, dict):
        msg = f"expected a JSON object for {model.__name__}, got {type(data).__name__}"
        raise DecodeError(msg, "not_an_object")
    try:
        return model.model_validate(data, context={"time_policy": time_policy})
    except ValidationError as exc:
        raise DecodeError(f"{model.__name__}: {format_validation_error(exc)}", "validation") from None


def field_path(loc: tuple[int | str, ...], root: str = "") -> str:
    """A validation location as a path: ``("machines", 2, "site_id")`` -> ``machines[2].site_id``."""
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


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
