"""The connector's percent deadband rule (connectors/opcua/deadband.py), value by value."""

from __future__ import annotations

from asyncua import ua

from connectors.opcua.deadband import PercentDeadband

GOOD, UNCERTAIN = 0, ua.StatusCodes.UncertainLastUsableValue


def test_reports_changes_beyond_the_percent_of_the_range_against_the_last_reported_value() -> None:
    band = PercentDeadband(5.0, 0.0, 200.0)  # 10 units
    assert band.threshold == 10.0
    kept = [v for v in (100.0, 104.0, 108.0, 110.5, 111.0, 100.6, 100.0) if band.passes(v, GOOD)]
    assert kept == [100.0, 110.5, 100.0]  # 110.5 - 100 > 10; 100.6 is within 10 of 110.5, 100.0 is not


def test_limits_status_changes_and_non_numbers_always_pass() -> None:
    band = PercentDeadband(50.0, 0.0, 100.0)
    assert band.passes(50.0, GOOD)
    assert band.passes(51.0, UNCERTAIN)  # status changed
    assert not band.passes(52.0, UNCERTAIN)
    assert band.passes(100.0, UNCERTAIN) and band.passes(100.0, UNCERTAIN)  # at the high limit
    assert band.passes(-3.0, UNCERTAIN)  # beyond the low limit
    assert band.passes(None, ua.StatusCodes.BadSensorFailure)
    assert band.passes(60.0, ua.StatusCodes.BadSensorFailure)  # first number after no value
    assert band.passes("text", GOOD) and band.passes(True, GOOD)
