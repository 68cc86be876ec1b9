"""A Ctrl-C that lands inside a database call during start-up is the interruption, not a PostgreSQL failure."""

from __future__ import annotations

import psycopg
import pytest

import cli.up as up


def _raised_while_stopping() -> psycopg.OperationalError:
    try:
        try:
            raise up._Stop("SIGINT")
        except up._Stop:
            # what psycopg raises when the stop hits a pipelined query: it cannot leave pipeline mode
            raise psycopg.OperationalError("cannot exit pipeline mode while busy")  # noqa: B904
    except psycopg.OperationalError as exc:
        return exc


def test_a_database_error_raised_while_stopping_is_the_stop() -> None:
    with pytest.raises(up._Stop, match="SIGINT"):
        up._stop_behind(_raised_while_stopping())


def test_a_database_error_of_its_own_is_left_to_report() -> None:
    try:
        try:
            raise ValueError("unrelated")
        except ValueError:
            raise psycopg.OperationalError("connection refused")  # noqa: B904
    except psycopg.OperationalError as exc:
        up._stop_behind(exc)  # returns: the caller reports it as the service's failure
        assert isinstance(exc.__context__, ValueError)
