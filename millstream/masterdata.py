"""ERP master data as typed records, and the scenario file that carries them.

A scenario file (YAML or JSON) holds what the pipelines need from the ERP — sites with geofences, locations,
materials, BOMs, machines with their OPC-UA mapping, production orders, trucks, shipments with routes,
EPC-to-material mappings, expected receipts and opening stock — plus an optional ``simulation`` section that
the simulators validate themselves. The demo plant in ``scenarios/demo.yaml`` is the world the simulators
play. :func:`read_scenario` validates everything (types, units, cross references, geometry) and raises
:class:`ScenarioError` naming the file, the field and the problem.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from millstream.errors import DecodeError, ScenarioError
from millstream.events.base import UtcDatetime, unstorable_text
from millstream.gs1 import is_valid_gtin, is_valid_sscc
from millstream.serde import format_validation_error, read_document

__all__ = [
    "Bom",
    "BomLine",
    "EpcMapping",
    "Location",
    "Machine",
    "Material",
    "OpcuaMapping",
    "ProductionOrder",
    "Receipt",
    "Scenario",
    "Shipment",
    "Site",
    "StockLevel",
    "StockPolicy",
    "Truck",
    "read_scenario",
    "reader_id",
    "repeated_materials",
]

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Quantity = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: Names and short labels; every free-text field has a bound (the API also bounds the whole body).
Name = Annotated[str, Field(min_length=1, max_length=200)]
#: OPC-UA endpoint URLs and NodeIds.
OpcuaText = Annotated[str, Field(min_length=1, max_length=512)]


class _Record(BaseModel):
    """Every record: frozen, no unknown fields, finite numbers, bounded text that PostgreSQL can store."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)

    @model_validator(mode="after")
    def _storable_text(self) -> _Record:
        if problem := unstorable_text(self):
            raise ValueError(problem)
        return self


class Site(_Record):
    """A plant, warehouse or customer site; ``geofence`` is a GeoJSON Polygon (lon, lat order)."""

    id: Id
    name: Name
    kind: Literal["plant", "warehouse", "distribution_center", "customer", "supplier"]
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    geofence: dict[str, Any]

    @field_validator("geofence")
    @classmethod
    def _polygon(cls, value: dict[str, Any]) -> dict[str, Any]:
        from shapely.geometry import shape

        if value.get("type") not in {"Polygon", "MultiPolygon"}:
            msg = "geofence must be a GeoJSON Polygon or MultiPolygon"
            raise ValueError(msg)
        try:
            geometry = shape(value)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            msg = f"geofence is not valid GeoJSON: {exc}"
            raise ValueError(msg) from None
        if geometry.is_empty or not geometry.is_valid:
            msg = "geofence polygon is empty or self-intersecting"
            raise ValueError(msg)
        minx, miny, maxx, maxy = geometry.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            msg = "geofence coordinates must be [lon, lat] in degrees"
            raise ValueError(msg)
        return value


def reader_id(location_id: str) -> str:
    """The RFID reader at a gate location (dock door or line-side gate): ``RDR-<location id>``."""
    return f"RDR-{location_id}"


class Location(_Record):
    """A stock or handling place inside a site."""

    id: Id
    site_id: Id
    name: Name
    kind: Literal["warehouse", "line_side", "dock_door"]
    direction: Literal["inbound", "outbound", "both"] | None = None
    stores: list[Literal["raw", "component", "semi_finished", "finished", "packaging"]] = Field(
        default=[], description="Material kinds a warehouse keeps (put-away); empty: any kind.")

    @model_validator(mode="after")
    def _dock_direction(self) -> Location:
        if self.kind == "dock_door" and self.direction is None:
            msg = "a dock_door needs a direction (inbound, outbound or both)"
            raise ValueError(msg)
        return self


class Material(_Record):
    id: Id
    name: Name
    kind: Literal["raw", "component", "semi_finished", "finished", "packaging"]
    uom: Literal["EA", "KG", "M", "L"] = "EA"
    gtin: str | None = None
    reorder_point: Annotated[float, Field(ge=0)] = 0
    reorder_qty: Annotated[float, Field(ge=0)] = 0

    @field_validator("gtin")
    @classmethod
    def _gtin(cls, value: str | None) -> str | None:
        if value is not None and not is_valid_gtin(value):
            msg = "gtin must be 14 digits with a valid GS1 check digit"
            raise ValueError(msg)
        return value


class BomLine(_Record):
    """``quantity`` per unit of the product; ``scrap_factor`` is the component's planned loss in processing
    (cut-off, spillage): a backflush consumes ``quantity * (1 + scrap_factor)`` per part made."""

    material_id: Id
    quantity: Quantity
    scrap_factor: Annotated[float, Field(ge=0, lt=1)] = 0


class Bom(_Record):
    """Components consumed per one unit of ``product_id`` (backflush basis)."""

    product_id: Id
    components: list[BomLine] = Field(min_length=1)


class OpcuaMapping(_Record):
    """Where a machine's tags live: endpoint URL and tag name -> NodeId."""

    endpoint: OpcuaText = Field(pattern=r"^opc\.tcp://")
    nodes: dict[Annotated[str, Field(min_length=1, max_length=128)], OpcuaText] = Field(
        min_length=1, max_length=500)


class Machine(_Record):
    id: Id
    name: Name
    site_id: Id
    location_id: Id
    kind: Name
    cycle_time_s: Annotated[float, Field(gt=0)]
    opcua: OpcuaMapping


class ProductionOrder(_Record):
    id: Id
    machine_id: Id
    product_id: Id
    planned_qty: Annotated[int, Field(gt=0)]
    status: Literal["released", "in_progress", "completed", "cancelled"] = "released"
    sequence: Annotated[int, Field(ge=0)] = 0


class Truck(_Record):
    id: Id
    plate: Name
    capacity_pallets: Annotated[int, Field(gt=0)] = 33


class ShipmentItem(_Record):
    material_id: Id
    quantity: Quantity


class Shipment(_Record):
    """A truck's trip from origin to destination, promised within a delivery window, along a route."""

    id: Id
    truck_id: Id
    origin_site_id: Id
    destination_site_id: Id
    promised_from: UtcDatetime
    promised_to: UtcDatetime
    status: Literal["planned", "loading", "in_transit", "delivered", "cancelled"] = "planned"
    route: dict[str, Any]
    items: list[ShipmentItem] = []

    @field_validator("route")
    @classmethod
    def _linestring(cls, value: dict[str, Any]) -> dict[str, Any]:
        coords = value.get("coordinates")
        if value.get("type") != "LineString" or not isinstance(coords, list) or len(coords) < 2:
            msg = "route must be a GeoJSON LineString with at least two [lon, lat] points"
            raise ValueError(msg)
        for i, point in enumerate(coords):
            ok = isinstance(point, list) and len(point) >= 2 and all(isinstance(c, int | float) for c in point)
            if not ok or not (-180 <= point[0] <= 180 and -90 <= point[1] <= 90):
                msg = f"route point {i} must be [lon, lat] in degrees"
                raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _window(self) -> Shipment:
        if self.promised_to <= self.promised_from:
            msg = "promised_to must be after promised_from"
            raise ValueError(msg)
        if self.origin_site_id == self.destination_site_id:
            msg = "origin and destination must differ"
            raise ValueError(msg)
        return self


class EpcMapping(_Record):
    """An EPC class (GTIN of cases) or instance (SSCC of a pallet) -> material and quantity per tag."""

    scheme: Literal["sgtin", "sscc"]
    code: str = Field(max_length=18)
    material_id: Id
    quantity: Quantity = 1

    @model_validator(mode="after")
    def _code(self) -> EpcMapping:
        valid = is_valid_gtin(self.code) if self.scheme == "sgtin" else is_valid_sscc(self.code)
        if not valid:
            kind = "GTIN-14" if self.scheme == "sgtin" else "SSCC-18"
            msg = f"code must be a {kind} with a valid GS1 check digit"
            raise ValueError(msg)
        return self


class Receipt(_Record):
    """An expected inbound pallet (ERP inbound delivery line) at a dock door."""

    id: Id
    location_id: Id
    sscc: str = Field(max_length=18)
    material_id: Id
    quantity: Quantity
    expected_at: UtcDatetime

    @field_validator("sscc")
    @classmethod
    def _sscc(cls, value: str) -> str:
        if not is_valid_sscc(value):
            msg = "sscc must be 18 digits with a valid GS1 check digit"
            raise ValueError(msg)
        return value


class StockLevel(_Record):
    material_id: Id
    location_id: Id
    quantity: Annotated[float, Field(ge=0)]


class StockPolicy(_Record):
    """Replenishment parameters of a material at a location: reorder point, safety stock, maximum, order
    multiple, replenishment lead time and the service factor ``z`` of the dynamic safety stock."""

    material_id: Id
    location_id: Id
    reorder_point: Annotated[float, Field(ge=0)]
    safety_stock: Annotated[float, Field(ge=0)] = 0
    max_stock: Quantity
    order_multiple: Quantity = 1
    lead_time_h: Annotated[float, Field(gt=0)] = 24
    service_z: Annotated[float, Field(ge=0, le=5)] = 1.65

    @model_validator(mode="after")
    def _levels(self) -> StockPolicy:
        if not self.safety_stock <= self.reorder_point < self.max_stock:
            msg = "needs safety_stock <= reorder_point < max_stock"
            raise ValueError(msg)
        return self


class Scenario(_Record):
    """One coherent set of ERP master data (and the simulators' parameters)."""

    name: Name
    description: str = Field("", max_length=5000)
    epoch: UtcDatetime | None = Field(
        default=None, description="The time the scenario's timestamps are written against (see rebased())."
    )
    sites: list[Site] = Field(min_length=1)
    locations: list[Location] = []
    materials: list[Material] = []
    boms: list[Bom] = []
    machines: list[Machine] = []
    production_orders: list[ProductionOrder] = []
    trucks: list[Truck] = []
    shipments: list[Shipment] = []
    epc_mappings: list[EpcMapping] = []
    receipts: list[Receipt] = []
    initial_stock: list[StockLevel] = []
    stock_policies: list[StockPolicy] = []
    simulation: dict[str, Any] = {}

    def rebased(self, start: datetime) -> Scenario:
        """The same scenario with every timestamp shifted so that ``epoch`` becomes ``start``.

        Simulators and demos play a scenario "from now" while the file stays fixed and reproducible. The
        ``simulation`` section's ``start`` (the scenario instant a run begins at) moves with the rest.
        """
        if self.epoch is None:
            return self
        delta = start - self.epoch
        simulation = self.simulation
        begins = simulation.get("start")
        if isinstance(begins, str):
            try:
                begins = datetime.fromisoformat(begins)
            except ValueError:
                begins = None  # left as it is: the simulators' validation names the problem
        if isinstance(begins, datetime) and begins.tzinfo is not None:
            simulation = {**simulation, "start": begins + delta}
        return self.model_copy(update={
            "epoch": start,
            "simulation": simulation,
            "shipments": [sh.model_copy(update={"promised_from": sh.promised_from + delta,
                                                "promised_to": sh.promised_to + delta}) for sh in self.shipments],
            "receipts": [r.model_copy(update={"expected_at": r.expected_at + delta}) for r in self.receipts],
        })

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        problems = _duplicate_ids(self) + _repeated_lines(self) + _dangling_references(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _duplicate_ids(s: Scenario) -> list[str]:
    problems = []
    for name in ("sites", "locations", "materials", "machines", "production_orders", "trucks", "shipments",
                 "receipts"):
        counts = Counter(item.id for item in getattr(s, name))
        problems += [f"{name}: duplicate id {i!r}" for i, n in counts.items() if n > 1]
    counts = Counter((p.material_id, p.location_id) for p in s.stock_policies)
    problems += [f"stock_policies: two policies for {m!r} at {loc!r}" for (m, loc), n in counts.items() if n > 1]
    counts = Counter(b.product_id for b in s.boms)
    problems += [f"boms: two BOMs for product {i!r}" for i, n in counts.items() if n > 1]
    counts = Counter((m.scheme, m.code) for m in s.epc_mappings)
    problems += [f"epc_mappings: duplicate {k[0]} code {k[1]!r}" for k, n in counts.items() if n > 1]
    return problems


def repeated_materials(lines: Sequence[BomLine | ShipmentItem]) -> list[tuple[int, str]]:
    """``(index, material_id)`` of each line whose material an earlier line already has.

    BOM components and shipment items are keyed by material: each material appears once per parent.
    """
    seen: set[str] = set()
    repeats = []
    for i, line in enumerate(lines):
        if line.material_id in seen:
            repeats.append((i, line.material_id))
        seen.add(line.material_id)
    return repeats


def _repeated_lines(s: Scenario) -> list[str]:
    problems = [f"boms[{i}].components[{j}].material_id: material {m!r} appears more than once"
                for i, bom in enumerate(s.boms) for j, m in repeated_materials(bom.components)]
    problems += [f"shipments[{i}].items[{j}].material_id: material {m!r} appears more than once"
                 for i, sh in enumerate(s.shipments) for j, m in repeated_materials(sh.items)]
    return problems


def _dangling_references(s: Scenario) -> list[str]:
    ids = {name: {item.id for item in getattr(s, name)}
           for name in ("sites", "locations", "materials", "machines", "trucks")}
    locations = {loc.id: loc for loc in s.locations}
    refs: list[tuple[str, str, str]] = []  # (field path, collection, value)
    refs += [(f"locations[{i}].site_id", "sites", x.site_id) for i, x in enumerate(s.locations)]
    refs += [(f"boms[{i}].product_id", "materials", x.product_id) for i, x in enumerate(s.boms)]
    refs += [(f"boms[{i}].components[{j}].material_id", "materials", c.material_id)
             for i, x in enumerate(s.boms) for j, c in enumerate(x.components)]
    for i, m in enumerate(s.machines):
        refs += [(f"machines[{i}].site_id", "sites", m.site_id), (f"machines[{i}].location_id", "locations",
                                                                  m.location_id)]
    for i, o in enumerate(s.production_orders):
        refs += [(f"production_orders[{i}].machine_id", "machines", o.machine_id),
                 (f"production_orders[{i}].product_id", "materials", o.product_id)]
    for i, sh in enumerate(s.shipments):
        refs += [(f"shipments[{i}].truck_id", "trucks", sh.truck_id),
                 (f"shipments[{i}].origin_site_id", "sites", sh.origin_site_id),
                 (f"shipments[{i}].destination_site_id", "sites", sh.destination_site_id)]
        refs += [(f"shipments[{i}].items[{j}].material_id", "materials", it.material_id)
                 for j, it in enumerate(sh.items)]
    refs += [(f"epc_mappings[{i}].material_id", "materials", x.material_id) for i, x in enumerate(s.epc_mappings)]
    for i, r in enumerate(s.receipts):
        refs += [(f"receipts[{i}].location_id", "locations", r.location_id),
                 (f"receipts[{i}].material_id", "materials", r.material_id)]
    for i, st in enumerate(s.initial_stock):
        refs += [(f"initial_stock[{i}].material_id", "materials", st.material_id),
                 (f"initial_stock[{i}].location_id", "locations", st.location_id)]
    for i, sp in enumerate(s.stock_policies):
        refs += [(f"stock_policies[{i}].material_id", "materials", sp.material_id),
                 (f"stock_policies[{i}].location_id", "locations", sp.location_id)]
    problems = [f"{path}: unknown {coll[:-1]} {value!r}" for path, coll, value in refs if value not in ids[coll]]
    for i, r in enumerate(s.receipts):
        loc = locations.get(r.location_id)
        if loc is not None and loc.kind != "dock_door":
            problems.append(f"receipts[{i}].location_id: {r.location_id!r} is a {loc.kind}, not a dock_door")
    return problems


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate already-parsed scenario data; :class:`ScenarioError` names ``source``, field and problem."""
    if not isinstance(data, dict):
        msg = f"{source}: the scenario must be a mapping at the top level"
        raise ScenarioError(msg)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        msg = f"{source}: {format_validation_error(exc)}"
        raise ScenarioError(msg) from None


def read_scenario(path: str | Path) -> Scenario:
    """Read and validate a YAML (``.yaml``/``.yml``) or JSON scenario file."""
    path = Path(path)
    try:
        data = read_document(path, "scenario file")
    except DecodeError as exc:
        raise ScenarioError(exc.reason) from None
    return parse_scenario(data, str(path))
