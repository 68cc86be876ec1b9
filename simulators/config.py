"""The simulators' parameters: the scenario's ``simulation:`` mapping, validated with defaults.

Every field has a default, so a scenario with ``simulation: {}`` plays. A wrong value raises
:class:`SimulationError` naming the field (``simulation.plant.failure_threshold: ...``); impossible runs
(negative speed, a plant without machines) are refused with the reason.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from millstream.errors import MillstreamError
from millstream.events.base import UtcDatetime
from millstream.masterdata import Scenario
from millstream.serde import format_validation_error

__all__ = ["FleetParameters", "GateParameters", "PlantParameters", "SimulationConfig", "SimulationError",
           "check_speed", "simulation_config"]

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


class SimulationError(MillstreamError):
    """The simulators cannot run as asked; the message names the field or setting and the reason."""


class _Parameters(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class PlantParameters(_Parameters):
    """Machine wear, failure, repair and production."""

    update_hz: Positive = Field(2.0, le=100.0, description="Value updates per second of wall clock.")
    onset_mean_h: Positive = Field(2.0, description="Mean running hours until degradation starts.")
    wear_rate_per_h: Positive = Field(0.15, description="Initial health loss per running hour after onset.")
    wear_acceleration_per_h: Positive = Field(0.8, description="Exponential growth of the wear rate per hour.")
    failure_threshold: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    repair_mean_min: Positive = 45.0
    scrap_probability: Probability = 0.02
    scrap_probability_worn: Probability = Field(0.15, description="Scrap probability at the failure threshold.")
    reset_on_restart_probability: Probability = Field(
        0.5, description="Chance that the PLC zeroes its part counters when a machine restarts after repair.")
    noise: Annotated[float, Field(ge=0.0, le=5.0)] = 1.0
    initial_age_h: Annotated[float, Field(ge=0.0, le=1000.0)] = Field(
        0.0, description="Each machine of a live plant has run a random time of up to this many hours since it was "
                         "new when the run begins (wearing, failing and being repaired as it would), so the plant "
                         "starts with machines at every stage of wear; 0: every machine starts as new. Offline "
                         "run-to-failure histories always start from new.")


class FleetParameters(_Parameters):
    """Truck driving, pinging and injected incidents (probabilities are per shipment)."""

    ping_interval_s: Positive = 5.0
    cruise_speed_kmh: Annotated[float, Field(gt=10.0, le=130.0)] = 85.0
    urban_speed_kmh: Annotated[float, Field(gt=5.0, le=80.0)] = 35.0
    urban_radius_km: Annotated[float, Field(ge=0.0)] = 3.0
    gps_noise_m: Annotated[float, Field(ge=0.0, le=100.0)] = 5.0
    dwell_after_arrival_min: Annotated[float, Field(ge=0.0)] = 15.0
    departure_jitter_min: Annotated[float, Field(ge=0.0)] = 15.0
    traffic_jam: Probability = 0.5
    breakdown: Probability = 0.15
    detour: Probability = 0.2
    gps_dropout: Probability = 0.3
    buffered_delivery: Probability = 0.3
    outlier: Probability = 0.3


class GateParameters(_Parameters):
    """RFID reader behaviour at dock doors and line-side gates."""

    company_prefix_length: Annotated[int, Field(ge=6, le=12)] = 7
    antennas: Annotated[int, Field(ge=1, le=8)] = 4
    reads_per_tag_mean: Annotated[float, Field(ge=1.0, le=50.0)] = 6.0
    pass_duration_s: Positive = 4.0
    missed_tag_probability: Probability = Field(
        0.02, description="Chance that a reader never sees a tag that passes it: the goods move, the ledger never "
                          "learns of it (a fault; the demo sets 0).")
    stray_read_probability: Probability = 0.1
    loading_group: Annotated[int, Field(ge=1)] = Field(10, description="Cases that pass a gate together.")
    line_side_allowance: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.15, description="Material sent to a line side for an order beyond its BOM need (with the BOM's scrap "
                          "factor) for the planned good parts, for the parts that will be scrapped.")
    inject: tuple[Literal["mis_scanned_pallet"], ...] = Field(
        (), description="Faults to inject on purpose: mis_scanned_pallet (a line-side delivery passes its gate "
                        "unread and is re-scanned rescan_after_min later).")
    rescan_after_min: Positive = Field(240.0, description="When a mis-scanned pallet is re-scanned at its gate.")
    heartbeat_s: Annotated[float, Field(ge=0.0)] = Field(
        30.0, description="Every reader's heartbeat interval in simulated seconds (0: none); a quiet door's "
                          "heartbeats let the gate stream's watermark, and so its pass decisions, go on.")


class SimulationConfig(_Parameters):
    start: UtcDatetime | None = Field(
        None, description="The scenario instant at which a run begins (default: the scenario's epoch); "
                          "see simulators.clock for the rule.")
    plant: PlantParameters = PlantParameters()
    fleet: FleetParameters = FleetParameters()
    gates: GateParameters = GateParameters()


def simulation_config(scenario: Scenario) -> SimulationConfig:
    """The scenario's ``simulation:`` mapping, validated; :class:`SimulationError` names the field."""
    try:
        return SimulationConfig.model_validate(scenario.simulation)
    except ValidationError as exc:
        msg = f"scenario {scenario.name!r}: {format_validation_error(exc, 'simulation')}"
        raise SimulationError(msg) from None


def check_speed(speed: float) -> float:
    """``speed`` if it is a usable time factor, else :class:`SimulationError` with the reason."""
    if not speed > 0 or speed != speed or speed == float("inf"):
        msg = f"speed must be a positive, finite factor of the wall clock, got {speed}"
        raise SimulationError(msg)
    return speed

