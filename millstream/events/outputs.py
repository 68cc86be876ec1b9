"""The base of what pipelines produce: alerts and ERP records (filled by later steps).

An output event carries the event time it is about (``occurred_at``), the subject it concerns and the ids
of the input events that justify it (``evidence_ids``), so that a downstream reader can trace it back.
Output ids are derived from subject + type + episode by each output type, never from arrival order.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from millstream.events.base import Event, UtcDatetime

__all__ = ["OutputEvent", "SubjectKind"]

SubjectKind = Literal["machine", "material_location", "shipment", "truck", "endpoint", "site"]


class OutputEvent(Event):
    """Base of alerts and ERP records."""

    kind: ClassVar[str] = "output"
    time_fields: ClassVar[tuple[str, ...]] = ()

    subject_kind: SubjectKind
    subject_id: Annotated[str, Field(min_length=1, max_length=200)]
    occurred_at: UtcDatetime
    evidence_ids: tuple[str, ...] = ()
