"""Machine wear and the sensor signals it shows in.

A machine has a hidden health in (0, 1]. It stays new for a random number of running hours (the onset of
degradation, exponentially distributed), then wears at a rate that grows exponentially — slowly at first, then
faster — until health crosses the failure threshold. Degradation ``d = 1 - health`` shows in the signals:
vibration rises (super-linearly), motor current rises, spindle temperature drifts up and every signal gets
noisier. Pure functions of a seeded :class:`random.Random`, shared by the live OPC-UA plant and the offline
run-to-failure generator, so both follow the same physics.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from simulators.config import PlantParameters

__all__ = ["AMBIENT_C", "Health", "MachineProfile", "Signals", "profile_for", "signals"]

AMBIENT_C = 22.0
_THERMAL_TAU_S = 600.0


@dataclass(frozen=True)
class MachineProfile:
    """Nominal signal levels of a healthy machine of one kind while it runs."""

    temperature_c: float
    vibration_mm_s: float
    current_a: float
    spindle_rpm: float


_PROFILES = {
    "lathe": MachineProfile(45.0, 1.2, 18.0, 2400.0),
    "mill": MachineProfile(50.0, 1.6, 25.0, 12000.0),
    "assembly": MachineProfile(35.0, 0.6, 8.0, 300.0),
}
_DEFAULT_PROFILE = MachineProfile(40.0, 1.0, 15.0, 1500.0)


def profile_for(kind: str) -> MachineProfile:
    """The nominal levels for a machine ``kind`` (lathe, mill, assembly; anything else gets generic ones)."""
    return _PROFILES.get(kind, _DEFAULT_PROFILE)


class Health:
    """The hidden health of one machine and its stochastic wear process."""

    def __init__(self, rng: random.Random, params: PlantParameters) -> None:
        self._rng = rng
        self._params = params
        self.value = 1.0
        self.running_s = 0.0
        self.onset_at_s = 0.0
        self.wear_scale = 1.0
        self.renew()

    def renew(self) -> None:
        """As new (after a repair): health 1 and a fresh onset time and wear speed."""
        self.value = 1.0
        self.running_s = 0.0
        self.onset_at_s = self._rng.expovariate(1.0 / (self._params.onset_mean_h * 3600.0))
        self.wear_scale = self._rng.lognormvariate(0.0, 0.3)

    @property
    def degrading(self) -> bool:
        return self.running_s > self.onset_at_s

    @property
    def degradation(self) -> float:
        return 1.0 - self.value

    @property
    def failed(self) -> bool:
        return self.value <= self._params.failure_threshold

    def run(self, dt_s: float) -> bool:
        """Wear for ``dt_s`` running seconds; True when degradation started during this step."""
        was_degrading = self.degrading
        self.running_s += dt_s
        if not self.degrading:
            return False
        p = self._params
        since_onset_h = (self.running_s - self.onset_at_s) / 3600.0
        rate_per_h = p.wear_rate_per_h * self.wear_scale * math.exp(p.wear_acceleration_per_h * since_onset_h)
        shock = max(0.0, 1.0 + 0.3 * self._rng.gauss(0.0, 1.0))
        self.value = max(0.0, self.value - rate_per_h * dt_s / 3600.0 * shock)
        return not was_degrading


@dataclass(frozen=True)
class Signals:
    temperature_c: float
    vibration_mm_s: float
    current_a: float
    spindle_rpm: float


def signals(rng: random.Random, profile: MachineProfile, degradation: float, running: bool,
            previous_temperature_c: float, dt_s: float, noise: float = 1.0) -> Signals:
    """The sensor values of a machine with ``degradation`` after ``dt_s`` seconds, running or standing."""
    d = min(max(degradation, 0.0), 1.0)
    spread = noise * (1.0 + 3.0 * d)
    if running:
        target_c = profile.temperature_c + 25.0 * d
        vibration = profile.vibration_mm_s * (1.0 + 3.0 * d**1.5) + rng.gauss(0.0, 0.05 * profile.vibration_mm_s
                                                                               * spread)
        current = profile.current_a * (1.0 + 0.35 * d) + rng.gauss(0.0, 0.02 * profile.current_a * spread)
        rpm = profile.spindle_rpm * (1.0 - 0.02 * d) + rng.gauss(0.0, 0.002 * profile.spindle_rpm * noise)
    else:
        target_c = AMBIENT_C
        vibration = abs(rng.gauss(0.0, 0.02 * noise))
        current = 0.5 + abs(rng.gauss(0.0, 0.05 * noise))
        rpm = 0.0
    alpha = 1.0 - math.exp(-dt_s / _THERMAL_TAU_S)
    temperature = previous_temperature_c + alpha * (target_c - previous_temperature_c)
    temperature += rng.gauss(0.0, 0.2 * spread)
    return Signals(temperature, max(0.0, vibration), max(0.0, current), max(0.0, rpm))
