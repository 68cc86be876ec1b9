"""The logistics logic's alert conditions through the shared alert lifecycle (in-process, no broker): a
detour raises a route deviation while it lasts and only for that shipment, a long stay at a site a long-dwell
alert, and the promised window the delay alerts — each against the simulator's ground truth."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from millstream.alert_lifecycle import _Lifecycle, _Track
from millstream.events.alerts import Alert
from millstream.logistics.outputs import AlertCondition
from millstream.logistics.rules import alert_rules
from millstream.logistics.truck import DELAY, DEVIATION, LONG_DWELL, Logistics, TruckState
from millstream.masterdata import read_scenario
from millstream.settings import LogisticsSettings
from simulators.fleet.simulation import FleetSimulation
from tests.helpers.paths import ROOT


def play(seed: int, params: LogisticsSettings) -> tuple[list[Alert], list[Any]]:
    """Every alert change the day of ``seed`` produces, and its ground-truth facts."""
    scenario = read_scenario(ROOT / "scenarios" / "demo.yaml")
    sim = FleetSimulation(scenario, seed=seed)
    logistics, states = Logistics(scenario, params), {}
    lifecycles = {t: _Lifecycle(rule) for t, rule in alert_rules(params).items()}
    tracks: dict[tuple[str, str], _Track | None] = {}
    changes: list[Alert] = []
    facts = []
    for emission in sim.timeline():
        if emission.fact is not None:
            facts.append(emission.fact)
            continue
        ping = emission.event
        for out in logistics.on_ping(states.setdefault(ping.truck_id, TruckState()), ping):
            if isinstance(out, AlertCondition):
                key = (out.alert_type, out.condition.subject)
                tracks[key], new = lifecycles[out.alert_type](tracks.get(key), out.condition)
                changes += new
    return changes, facts


def opened(changes: list[Alert], alert_type: str) -> dict[str, list[Alert]]:
    by_subject: dict[str, list[Alert]] = {}
    for alert in changes:
        if alert.alert_type == alert_type:
            by_subject.setdefault(alert.subject_id, []).append(alert)
    return by_subject


def window(fact: Any) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(fact.details["start"]), datetime.fromisoformat(fact.details["end"])


def test_a_detour_is_a_route_deviation_while_it_lasts() -> None:
    changes, facts = play(18, LogisticsSettings())  # seed 18: two detours, no GPS silence hiding them
    detours = {f.details["shipment_id"]: window(f) for f in facts
               if f.kind == "incident" and f.details["incident"] == "detour"}
    assert len(detours) == 2
    deviations = opened(changes, DEVIATION)
    assert set(deviations) == set(detours)  # the other shipments stayed in their corridors
    for shipment, (start, end) in detours.items():
        raised, last = deviations[shipment][0], deviations[shipment][-1]
        assert raised.state == "open" and start < raised.opened_at < end
        assert last.state == "cleared" and last.cleared_at is not None
        assert last.cleared_at <= end + timedelta(minutes=5)


def test_long_dwell_at_the_origin_while_loading() -> None:
    # loading takes 20 minutes: with a 15-minute limit every truck that loads at a site is flagged, once
    changes, facts = play(1, LogisticsSettings(long_dwell_min=15))
    dwell = opened(changes, LONG_DWELL)
    departed = {f.subject for f in facts if f.kind == "departure"}
    assert set(dwell) == departed
    for alerts in dwell.values():
        assert [a.state for a in alerts][:1] == ["open"] and alerts[-1].state == "cleared"
    assert opened(play(1, LogisticsSettings())[0], LONG_DWELL) == {}  # not with the default 90 minutes


def test_delay_alerts_warn_before_the_late_arrival() -> None:
    params = LogisticsSettings()
    changes, facts = play(1, params)
    arrivals = {f.details["shipment_id"]: f for f in facts if f.kind == "arrival"}
    late = {s for s, f in arrivals.items() if f.details["late_minutes"] > params.delay_tolerance_min}
    delays = opened(changes, DELAY)
    assert late and late <= set(delays)
    for shipment in late:
        assert delays[shipment][0].opened_at <= arrivals[shipment].time - timedelta(minutes=10)
        assert delays[shipment][0].severity in ("minor", "major", "critical")
