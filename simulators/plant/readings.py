"""The plant's tag values as :class:`SensorReading` events without OPC UA, as the bridge would publish them.

Like the OPC-UA server (:mod:`simulators.plant.server`), a tag is published only when its value changes
(every tag at the first step), all tags of a step with the step's time as source timestamp. With ``since``,
the readings begin at the first step at or after it — every tag's value then, as a bridge that subscribes
while the plant is running first sees them — while the plant has been running (and making parts) from
``start``. Tests and benchmarks feed these to the pipelines; the ground truth of the same run says what
really happened.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from millstream.events.base import WITHOUT_TIME_CHECK
from millstream.events.telemetry import SensorReading
from simulators.plant.simulation import PlantSimulation

__all__ = ["changed_readings"]


def changed_readings(plant: PlantSimulation, start: datetime, dt_s: float, count: int,
                     tags: frozenset[str] | None = None, since: datetime | None = None) -> Iterator[SensorReading]:
    """The readings of ``count`` steps from ``start`` (only ``tags`` when given; none before ``since``), then
    ``plant.finish``."""
    last: dict[tuple[str, str], Any] = {}
    now = start
    for now, values in plant.steps(start, dt_s, count):
        if since is not None and now < since:
            continue
        for machine_id, tag_values in values.items():
            for tag, value in tag_values.items():
                if (tags is not None and tag not in tags) or last.get((machine_id, tag), ...) == value:
                    continue
                last[(machine_id, tag)] = value
                yield SensorReading.model_validate(
                    {"machine_id": machine_id, "tag": tag, "value": value, "status_code": 0,
                     "source_timestamp": now}, context=WITHOUT_TIME_CHECK)
    plant.finish(now)
