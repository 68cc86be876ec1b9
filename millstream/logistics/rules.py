"""The four logistics alert rules (delay, route deviation, long dwell, truck offline), from settings, as
rules of the shared alert lifecycle (:mod:`millstream.alert_lifecycle`)."""

from __future__ import annotations

from datetime import timedelta

from millstream.alert_lifecycle import AlertRule
from millstream.logistics.truck import DELAY, DEVIATION, LONG_DWELL, OFFLINE
from millstream.settings import LogisticsSettings

__all__ = ["alert_rules"]


def alert_rules(params: LogisticsSettings) -> dict[str, AlertRule]:
    """The four logistics alert rules, from settings."""
    tolerance = params.delay_tolerance_min
    return {
        DELAY: AlertRule(DELAY, "logistics", raise_above=tolerance,
                         clear_below=tolerance - params.delay_hysteresis_min, min_duration=timedelta(minutes=2),
                         flap_window=timedelta(minutes=15),
                         severities=((tolerance, "minor"), (tolerance + 30, "major"), (tolerance + 90, "critical")),
                         title="Shipment will miss its promised window"),
        DEVIATION: AlertRule(DEVIATION, "logistics", raise_above=0.5, clear_below=0.5,
                             min_duration=timedelta(seconds=params.deviation_after_s),
                             flap_window=timedelta(minutes=10),
                             title="Truck off its route corridor"),
        LONG_DWELL: AlertRule(LONG_DWELL, "logistics", raise_above=params.long_dwell_min, clear_below=1.0,
                              severities=((params.long_dwell_min, "warning"),), title="Truck dwelling long at a site"),
        OFFLINE: AlertRule(OFFLINE, "logistics", raise_above=0.5, clear_below=0.5, title="Truck offline in transit"),
    }
