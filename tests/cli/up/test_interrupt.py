"""A Ctrl-C that lands inside a service call during start-up is the interruption, not that service's failure."""

from __future__ import annotations

import psycopg

import cli.up as up
from cli.up.supervisor import SupervisorError


def _reported(cause: BaseException) -> SupervisorError:
    """The error ``up`` reports when a PostgreSQL call fails while ``cause`` is being handled (as ``_start``
    raises it: ``from None``, the context kept)."""
    try:
        try:
            raise cause
        except BaseException:
            try:
                # what psycopg raises when the stop hits a pipelined query: it cannot leave pipeline mode
                raise psycopg.OperationalError("cannot exit pipeline mode while busy")
            except psycopg.OperationalError as exc:
                raise SupervisorError(f"PostgreSQL: {exc}") from None
    except SupervisorError as error:
        return error


def test_a_service_error_raised_while_stopping_is_the_stop() -> None:
    stop = up._stop_behind(_reported(up._Stop("SIGINT")))
    assert isinstance(stop, up._Stop)
    assert stop.args == ("SIGINT",)


def test_a_service_error_of_its_own_is_reported() -> None:
    assert up._stop_behind(_reported(ValueError("unrelated"))) is None
    assert up._stop_behind(SupervisorError("PostgreSQL: connection refused")) is None
