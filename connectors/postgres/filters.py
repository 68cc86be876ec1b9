"""The optional filters of a list query: fixed SQL fragments, each added with its values only when given.

    where = Filters().add("material_id = %s", material_id).add("(a = %s OR b = %s)", location_id, times=2)
    conn.execute(f"SELECT ... {where.clause} ...", [*where.params, limit])

Values are always query parameters; only the caller's fixed fragments become SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["Filters"]


class Filters:
    """``WHERE`` conditions joined by ``AND``, with their parameters in order."""

    def __init__(self) -> None:
        self._fragments: list[str] = []
        self.params: list[Any] = []

    def add(self, fragment: str, value: Any, *, times: int = 1) -> Filters:
        """Add ``fragment`` with ``value`` bound to its ``times`` placeholders, unless ``value`` is ``None`` or an
        empty list or tuple (no filter)."""
        if value is None or (isinstance(value, list | tuple) and not value):
            return self
        self._fragments.append(fragment)
        self.params += [value] * times
        return self

    def add_row(self, fragment: str, values: Sequence[Any] | None) -> Filters:
        """Add ``fragment`` with one placeholder per item of ``values`` (a row comparison), unless ``None``."""
        if values is not None:
            self._fragments.append(fragment)
            self.params += list(values)
        return self

    @property
    def clause(self) -> str:
        """``WHERE ...``, or an empty string when no filter was given."""
        return ("WHERE " + " AND ".join(self._fragments)) if self._fragments else ""
