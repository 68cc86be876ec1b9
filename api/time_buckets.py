"""Time buckets of the UI's charts (``?bucket=hour&buckets=24``): one definition for every counting endpoint."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import Query

__all__ = ["BUCKETS", "BucketCount", "BucketName"]

BUCKETS: dict[str, timedelta] = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}

BucketName = Annotated[Literal["minute", "hour", "day"], Query(description="The width of one bucket.")]
BucketCount = Annotated[int, Query(ge=1, le=500, description="How many buckets, up to the newest data.")]
