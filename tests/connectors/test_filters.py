"""Optional list-query filters: only given values become conditions, in order, always as parameters."""

from __future__ import annotations

from connectors.postgres.filters import Filters


def test_no_filter_gives_no_where_clause() -> None:
    where = Filters().add("a = %s", None).add("b = ANY(%s)", []).add_row("(c, d) > (%s, %s)", None)
    assert (where.clause, where.params) == ("", [])


def test_given_values_become_conditions_and_parameters_in_order() -> None:
    where = (Filters().add("a = %s", "x'; DROP TABLE t; --").add("(b = %s OR c = %s)", "L1", times=2)
             .add("d = ANY(%s)", ["m1", "m2"]).add("e = %s", "").add_row("(f, g) > (%s, %s)", (1, "id")))
    assert where.clause == "WHERE a = %s AND (b = %s OR c = %s) AND d = ANY(%s) AND e = %s AND (f, g) > (%s, %s)"
    assert where.params == ["x'; DROP TABLE t; --", "L1", "L1", ["m1", "m2"], "", 1, "id"]
