"""Geofences: circles, polygons and route corridors, in a local metric projection with hysteresis bands.

A :class:`Fence` keeps its shape in metres and an *outer* shape grown by the hysteresis margin: a truck
enters when it is inside the shape and leaves only when it is outside the outer shape, so GPS jitter at
the edge does not flap. :class:`FenceSet` indexes the outer shapes in a shapely 2 ``STRtree`` and classifies
whole arrays of points at once (:meth:`FenceSet.classify`: the tree finds the fences whose bounding box holds
a point, ``shapely.contains_xy`` on the prepared shapes decides).

Fences come from GeoJSON (:func:`read_geojson`: ``Polygon``/``MultiPolygon`` features, ``Point`` features
with a ``radius_m`` property, ``LineString`` features — routes — with a ``buffer_m`` corridor half-width) or
from master data (:func:`fences_from_scenario`: each site's geofence, each shipment's route corridor).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import shapely
from shapely.geometry import LineString, Point, shape
from shapely.geometry.base import BaseGeometry

from millstream.errors import DecodeError
from millstream.logistics.projection import LocalProjection
from millstream.masterdata import Scenario

__all__ = [
    "DEFAULT_CORRIDOR_M",
    "DEFAULT_HYSTERESIS_M",
    "Fence",
    "FenceKind",
    "FenceSet",
    "GeofenceError",
    "fences_from_scenario",
    "read_geojson",
    "route_fence_id",
    "site_fence_id",
]

FenceKind = Literal["circle", "polygon", "corridor"]

DEFAULT_HYSTERESIS_M = 50.0
DEFAULT_CORRIDOR_M = 150.0

#: Membership levels :meth:`FenceSet.classify` reports.
INSIDE, BAND = 2, 1
#: Up to this many fences, a one-point query tests bounding boxes in plain Python (numpy's call overhead loses).
_SMALL = 64
_CELL_M = 1000.0
_NONE = np.zeros(0, dtype=np.intp)


class GeofenceError(DecodeError):
    """A geofence file or definition that cannot be used (names the feature and the problem)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "invalid_geofence")


def site_fence_id(site_id: str) -> str:
    return f"site:{site_id}"


def route_fence_id(shipment_id: str) -> str:
    return f"route:{shipment_id}"


@dataclass(frozen=True)
class Fence:
    """One geofence. ``geometry_ll`` is the shape as drawn (lon/lat); ``line_ll`` the route of a corridor."""

    id: str
    kind: FenceKind
    geometry_ll: BaseGeometry
    name: str = ""
    radius_m: float | None = None
    buffer_m: float | None = None
    line_ll: LineString | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    def to_geojson(self) -> dict[str, Any]:
        """The fence as a GeoJSON Feature (the drawn shape; a corridor as its route line)."""
        geom = self.line_ll if self.kind == "corridor" and self.line_ll is not None else self.geometry_ll
        props = {"kind": self.kind, "name": self.name, **self.properties}
        if self.radius_m is not None:
            props["radius_m"] = self.radius_m
        if self.buffer_m is not None:
            props["buffer_m"] = self.buffer_m
        if self.kind == "circle":
            geom = self.geometry_ll.centroid
        return {"type": "Feature", "id": self.id, "properties": props, "geometry": shapely.geometry.mapping(geom)}


def _to_metres(geom: BaseGeometry, proj: LocalProjection) -> BaseGeometry:
    return shapely.transform(geom, lambda c: np.column_stack((c[:, 0] * proj.kx, c[:, 1] * proj.ky)))


class FenceSet:
    """Fences in metres, indexed. ``hysteresis_m`` widens each shape into the band a truck must leave to exit."""

    def __init__(self, fences: Sequence[Fence], *, hysteresis_m: float = DEFAULT_HYSTERESIS_M,
                 projection: LocalProjection | None = None) -> None:
        ids = [f.id for f in fences]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            msg = f"duplicate fence ids: {', '.join(dupes)}"
            raise GeofenceError(msg)
        self.fences = list(fences)
        self.hysteresis_m = hysteresis_m
        lats = [f.geometry_ll.centroid.y for f in fences]
        self.projection = projection or LocalProjection.around(lats)
        self.index_of = {f.id: i for i, f in enumerate(self.fences)}
        self.shapes = np.array([self._metric_shape(f) for f in self.fences], dtype=object)
        self.outer = np.array([s.buffer(hysteresis_m) for s in self.shapes], dtype=object)
        for geom in (*self.shapes, *self.outer):
            shapely.prepare(geom)
        self._tree = shapely.STRtree(self.outer)
        self._bounds = shapely.bounds(self.outer) if len(self.outer) else np.zeros((0, 4))
        self._ids = [f.id for f in self.fences]
        self._box_list = [tuple(row) for row in self._bounds.tolist()]
        self._grid = self._cells() if len(self._box_list) <= _SMALL else {}

    def _cells(self) -> dict[tuple[int, int], np.ndarray]:
        """For one-point queries: per ``_CELL_M`` square, the fences whose outer shape touches it."""
        cells: dict[tuple[int, int], list[int]] = {}
        for i, (x0, y0, x1, y1) in enumerate(self._box_list):
            keys = [(cx, cy) for cx in range(math.floor(x0 / _CELL_M), math.floor(x1 / _CELL_M) + 1)
                    for cy in range(math.floor(y0 / _CELL_M), math.floor(y1 / _CELL_M) + 1)]
            k = np.array(keys, dtype=float)
            boxes = shapely.box(k[:, 0] * _CELL_M, k[:, 1] * _CELL_M, (k[:, 0] + 1) * _CELL_M, (k[:, 1] + 1) * _CELL_M)
            for key, touches in zip(keys, shapely.intersects(self.outer[i], boxes).tolist(), strict=True):
                if touches:
                    cells.setdefault(key, []).append(i)
        return {key: np.array(fences, dtype=np.intp) for key, fences in cells.items()}

    def _metric_shape(self, fence: Fence) -> BaseGeometry:
        proj = self.projection
        if fence.kind == "circle":
            c = fence.geometry_ll.centroid
            x, y = proj.xy(c.x, c.y)
            return Point(x, y).buffer(fence.radius_m or 0.0, quad_segs=16)
        if fence.kind == "corridor" and fence.line_ll is not None:
            return _to_metres(fence.line_ll, proj).buffer(fence.buffer_m or DEFAULT_CORRIDOR_M)
        return _to_metres(fence.geometry_ll, proj)

    def __len__(self) -> int:
        return len(self.fences)

    def get(self, fence_id: str) -> Fence | None:
        i = self.index_of.get(fence_id)
        return None if i is None else self.fences[i]

    def classify(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Vectorised membership of points: ``(point index, fence index, level)`` for every point that is in a
        fence's outer shape; ``level`` is 2 inside the fence, 1 in its hysteresis band only."""
        x, y = self.projection.xy_arrays(lon, lat)
        pi, fi = self._tree.query(shapely.points(x, y))  # bounding boxes of the outer shapes
        if len(pi):
            near = shapely.contains_xy(self.outer[fi], x[pi], y[pi])  # prepared: fast point-in-polygon
            pi, fi = pi[near], fi[near]
        if len(pi) == 0:
            return pi, fi, np.zeros(0, dtype=np.int8)
        inside = shapely.contains_xy(self.shapes[fi], x[pi], y[pi])
        level = np.where(inside, INSIDE, BAND).astype(np.int8)
        return pi, fi, level

    def memberships(self, lon: float, lat: float) -> dict[str, int]:
        """``fence id -> level`` for one point (see :meth:`classify`); a bounding-box test over all fences in
        numpy, then point-in-polygon on the few candidates — a one-point query without the tree's overhead."""
        x, y = self.projection.xy(lon, lat)
        if len(self._box_list) <= _SMALL:
            candidates = self._grid.get((math.floor(x / _CELL_M), math.floor(y / _CELL_M)), _NONE)
        else:
            b = self._bounds
            candidates = np.flatnonzero((b[:, 0] <= x) & (x <= b[:, 2]) & (b[:, 1] <= y) & (y <= b[:, 3]))
        n = len(candidates)
        if n == 0:
            return {}
        # one call for the outer shapes and the fences of all candidates (prepared point-in-polygon)
        hit = shapely.contains_xy(np.concatenate((self.outer[candidates], self.shapes[candidates])), x, y).tolist()
        ids = self._ids
        return {ids[i]: INSIDE if hit[n + j] else BAND for j, i in enumerate(candidates.tolist()) if hit[j]}


def _feature_id(feature: dict[str, Any], i: int) -> str:
    props = feature.get("properties") or {}
    for value in (feature.get("id"), props.get("id"), props.get("name")):
        if value not in (None, ""):
            return str(value)
    return f"fence-{i + 1}"


def _positive(props: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = props.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not np.isfinite(value) or value <= 0:
        msg = f"{where}: property {key} must be a positive number of metres"
        raise GeofenceError(msg)
    return float(value)


def fence_from_feature(feature: dict[str, Any], i: int = 0, source: str = "<geojson>") -> Fence:
    """One GeoJSON Feature as a fence (see the module docstring for the geometry types)."""
    fid = _feature_id(feature, i)
    where = f"{source}: feature {fid!r}"
    props = dict(feature.get("properties") or {})
    try:
        geom = shape(feature["geometry"])
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        msg = f"{where}: geometry is not valid GeoJSON ({exc})"
        raise GeofenceError(msg) from None
    minx, miny, maxx, maxy = geom.bounds if not geom.is_empty else (0, 0, 0, 0)
    if geom.is_empty or not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        msg = f"{where}: coordinates must be [lon, lat] degrees and not empty"
        raise GeofenceError(msg)
    name = str(props.pop("name", "") or "")
    props.pop("id", None)
    if geom.geom_type == "Point":
        radius = _positive(props, "radius_m", where)
        props.pop("radius_m", None)
        return Fence(fid, "circle", geom, name, radius_m=radius, properties=props)
    if geom.geom_type == "LineString":
        width = _positive(props, "buffer_m", where, DEFAULT_CORRIDOR_M)
        props.pop("buffer_m", None)
        return Fence(fid, "corridor", geom, name, buffer_m=width, line_ll=geom, properties=props)
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        if not geom.is_valid:
            msg = f"{where}: polygon is self-intersecting"
            raise GeofenceError(msg)
        return Fence(fid, "polygon", geom, name, properties=props)
    msg = f"{where}: {geom.geom_type} is not a fence (use Polygon, Point with radius_m, or LineString)"
    raise GeofenceError(msg)


def read_geojson(path: str | Path) -> list[Fence]:
    """Fences from a GeoJSON FeatureCollection (or a single Feature) file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{path}: cannot read GeoJSON ({exc})"
        raise GeofenceError(msg) from None
    if isinstance(data, dict) and data.get("type") == "Feature":
        features: Iterable[Any] = [data]
    elif isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features") or []
    else:
        msg = f"{path}: expected a GeoJSON FeatureCollection or Feature"
        raise GeofenceError(msg)
    fences = [fence_from_feature(f, i, str(path)) for i, f in enumerate(features) if isinstance(f, dict)]
    if not fences:
        msg = f"{path}: no fences in the file"
        raise GeofenceError(msg)
    return fences


def fences_from_scenario(scenario: Scenario, corridor_m: float = DEFAULT_CORRIDOR_M) -> list[Fence]:
    """Each site's geofence (``site:<id>``) and each shipment's route corridor (``route:<shipment id>``)."""
    fences = [Fence(site_fence_id(s.id), "polygon", shape(s.geofence), s.name, properties={"site_id": s.id})
              for s in scenario.sites]
    for sh in scenario.shipments:
        line = LineString(sh.route["coordinates"])
        fences.append(Fence(route_fence_id(sh.id), "corridor", line, f"route of {sh.id}", buffer_m=corridor_m,
                            line_ll=line, properties={"shipment_id": sh.id}))
    return fences
