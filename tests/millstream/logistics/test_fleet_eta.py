"""The logistics logic's ETA learns from the whole fleet: over several simulated days, every truck's trip on a
route feeds the route's segment history that later trips on it (of any truck) estimate from, so the mid-trip
ETA is measurably better than the naive one (remaining distance / average speed so far) — measured against
the arrival the logic itself recorded. And the history survives a snapshot and resume of a truck's state."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta
from typing import Any

import pytest

from millstream.logistics.outputs import EtaRow, MilestoneRow
from millstream.logistics.truck import Logistics, TruckState
from millstream.masterdata import Scenario, read_scenario
from simulators.fleet.simulation import FleetSimulation
from tests.helpers.paths import ROOT


def days_of_shipments(days: int) -> Scenario:
    """The demo scenario with its shipments repeated on ``days`` consecutive days (new ids, same routes), the
    trucks taking turns: each day every truck drives the route the next truck drove the day before, so a
    truck's own earlier trips rarely cover the route it is on; the fleet's do."""
    base = read_scenario(ROOT / "scenarios" / "demo.yaml")
    trucks = [sh.truck_id for sh in base.shipments]
    shipments = [sh.model_copy(update={"id": f"{sh.id}-D{day}", "truck_id": trucks[(i + day) % len(trucks)],
                                       "promised_from": sh.promised_from + timedelta(days=day),
                                       "promised_to": sh.promised_to + timedelta(days=day)})
                 for day in range(days) for i, sh in enumerate(base.shipments)]
    return base.model_copy(update={"shipments": shipments})


def run(scenario: Scenario, seed: int, resume_after: int | None = None, forget: bool = False) -> list[Any]:
    """Every output of the fleet's pings; with ``resume_after``, the truck states go through a snapshot
    (pickle) and a new :class:`Logistics` after that many pings, as when the flow restarts from recovery
    (``forget``: without giving the resumed states back to the fleet history — the control)."""
    logistics, states, out = Logistics(scenario), {}, []
    pings = [e.event for e in FleetSimulation(scenario, seed=seed).timeline() if e.event is not None]
    for n, ping in enumerate(pings):
        if n == resume_after:
            logistics = Logistics(scenario)
            states = pickle.loads(pickle.dumps(states))
            for state in states.values():
                if not forget:
                    logistics.resume(state)
        out += logistics.on_ping(states.setdefault(ping.truck_id, TruckState()), ping)
    return out


def midtrip_errors(outputs: list[Any]) -> tuple[list[float], list[float]]:
    """Per arrived trip: |ETA - arrival| and |naive - arrival| (s) of the last ETA published by mid-trip."""
    milestones: dict[str, dict[str, datetime]] = {}
    etas: dict[str, list[EtaRow]] = {}
    for item in outputs:
        if isinstance(item, MilestoneRow):
            milestones.setdefault(item.shipment_id, {})[item.milestone] = item.at
        elif isinstance(item, EtaRow):
            etas.setdefault(item.shipment_id, []).append(item)
    errors: tuple[list[float], list[float]] = ([], [])
    for shipment, steps in milestones.items():
        if "departed" not in steps or "arrived" not in steps:
            continue
        middle = steps["departed"] + (steps["arrived"] - steps["departed"]) / 2
        before = [row.eta for row in etas.get(shipment, []) if row.eta.at <= middle and row.eta.naive is not None]
        if not before:
            continue
        errors[0].append(abs((before[-1].eta - steps["arrived"]).total_seconds()))
        errors[1].append(abs((before[-1].naive - steps["arrived"]).total_seconds()))
    return errors


@pytest.mark.slow
def test_the_mid_trip_eta_learns_from_the_whole_fleet() -> None:
    eta, naive = [], []
    for seed in (0, 1):
        e, n = midtrip_errors(run(days_of_shipments(4), seed))
        eta += e
        naive += n
    assert len(eta) >= 30  # 2 x 4 days x 5 shipments, minus trips a breakdown kept from arriving
    eta_mae, naive_mae = sum(eta) / len(eta), sum(naive) / len(naive)
    print(f"mid-trip MAE over {len(eta)} trips: ETA {eta_mae / 60:.1f} min, naive {naive_mae / 60:.1f} min")
    assert eta_mae < 0.8 * naive_mae, (eta_mae, naive_mae)


@pytest.mark.slow
def test_the_fleet_history_survives_a_restart_from_snapshots() -> None:
    scenario = days_of_shipments(3)
    uninterrupted = run(scenario, 2)
    pings = sum(1 for e in FleetSimulation(scenario, seed=2).timeline() if e.event is not None)
    resumed = run(scenario, 2, resume_after=pings * 2 // 3)  # on day 3, with two days of history
    assert etas(resumed) == etas(uninterrupted)
    assert len(resumed) == len(uninterrupted)
    forgetful = run(scenario, 2, resume_after=pings * 2 // 3, forget=True)  # the history mattered there
    assert etas(forgetful) != etas(uninterrupted)


def etas(outputs: list[Any]) -> list[Any]:
    return [r.eta for r in outputs if isinstance(r, EtaRow)]
