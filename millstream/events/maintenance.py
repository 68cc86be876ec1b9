"""Machine health scores from the maintenance flow: one :class:`MaintenanceScore` per machine and window."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from millstream.events.base import Event, UtcDatetime

__all__ = ["Confidence", "MaintenanceScore"]

Confidence = Literal["high", "low"]


class MaintenanceScore(Event):
    """A machine's health at event time ``at``: 0-100, RUL with its interval, failure risk, anomaly, why.

    ``rul``/``rul_low``/``rul_high`` are in ``rul_unit`` (hours for plant models); ``p_fail`` is the
    probability of failure within the model's ``horizon``; ``anomaly`` is the IsolationForest score relative
    to healthy data (> 1: less normal than 99% of healthy windows). ``confidence`` is ``low`` when signals are
    missing from the window or the machine's operating condition is unknown to the model.
    """

    kind: ClassVar[str] = "maintenance_score"

    machine_id: Annotated[str, Field(min_length=1, max_length=128)]
    at: UtcDatetime
    model_id: str
    health: Annotated[float, Field(ge=0, le=100)]
    rul: Annotated[float, Field(ge=0)]
    rul_low: Annotated[float, Field(ge=0)]
    rul_high: Annotated[float, Field(ge=0)]
    rul_unit: str
    horizon: float
    p_fail: Annotated[float, Field(ge=0, le=1)]
    anomaly: float
    confidence: Confidence
    valid_share: Annotated[float, Field(ge=0, le=1)]
    missing_signals: tuple[str, ...] = ()
    top_features: tuple[dict[str, Any], ...] = ()
    running_hours: float | None = None
    samples: int = 0

    def identity(self) -> tuple[object, ...]:
        return (self.machine_id, self.at)
