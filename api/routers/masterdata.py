"""Master data in from the ERP: create, replace and read each kind of record; sites' geofences as GeoJSON.

For every resource in :data:`api.masterdata_store.RESOURCES` there are four operations under
``/masterdata/<path>``: list (GET), create (POST; 409 if it exists), read (GET ``/<key>``) and create-or-
replace (PUT ``/<key>``; 201 when created, 200 when replaced). Input is the record model of
:mod:`millstream.masterdata` with the validation it carries (422 naming the field); a reference to an
unknown record is a 422 naming the field; each write, its child rows (BOM lines, shipment items) and its
audit entry go in one transaction, so nothing is half-written. Writing needs the erp or admin role,
reading any role.
"""

# No ``from __future__ import annotations``: the endpoints are built per resource and FastAPI reads their
# annotations, which refer to the resource's models, at definition time.

import inspect
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.deps import Connection, MasterdataReader, MasterdataWriter
from api.errors import field_error
from api.masterdata_store import RESOURCES, MasterdataResource, fetch_records, record_exists
from connectors.postgres import masterdata_reader
from connectors.postgres.apikeys import ApiKey
from connectors.postgres.audit import record_change
from connectors.postgres.masterdata import upsert_records
from millstream.masterdata import Material, Site, repeated_materials

__all__ = ["router"]

router = APIRouter(prefix="/masterdata", tags=["masterdata"])

_ID_PATTERN = next(m.pattern for m in Material.model_fields["id"].metadata if getattr(m, "pattern", None))
RecordId = Annotated[str, Path(min_length=1, max_length=64, pattern=_ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Records to skip.")]

_KEY_PARAMS: dict[str, Any] = {
    "id": RecordId,
    "product_id": RecordId,
    "scheme": Annotated[Literal["sgtin", "sscc"], Path()],
    "code": Annotated[str, Path(pattern=r"^[0-9]{14}([0-9]{4})?$", description="GTIN-14 or SSCC-18")],
}


def _models(resource: MasterdataResource) -> tuple[type[BaseModel], type[BaseModel]]:
    """``<Name>Create`` (input) and ``<Name>Public`` (output), both with the record's validation."""
    base = resource.record
    create = type(f"{base.__name__}Create", (base,), {"__doc__": base.__doc__, "__module__": __name__})
    public = type(f"{base.__name__}Public", (base,), {"__doc__": base.__doc__, "__module__": __name__})
    return create, public


def _write(
    conn: Connection, resource: MasterdataResource, record: Any, caller: ApiKey, *, create_only: bool
) -> bool:
    """Upsert one record and its audit entry atomically; ``True`` when it was created."""
    _refuse_duplicate_lines(record)
    key = resource.key(record)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{resource.path}/{key}",))
        exists = record_exists(conn, resource, key)
        if exists and create_only:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"{resource.singular} {resource.resource_id(key)} already exists; use PUT to replace")
        upsert_records(conn, [record])
        record_change(conn, actor=caller.actor, role=caller.role, action="replace" if exists else "create",
                      resource=resource.path, resource_id=resource.resource_id(key),
                      details=record.model_dump(mode="json"))
    return not exists


def _refuse_duplicate_lines(record: Any) -> None:
    """A BOM's components and a shipment's items are keyed by material: each material once."""
    for field in ("components", "items"):
        for i, material_id in repeated_materials(getattr(record, field, None) or ()):
            raise field_error(("body", field, i, "material_id"), f"material {material_id!r} appears more than once")


def _with_signature(func: Any, params: list[inspect.Parameter]) -> Any:
    func.__signature__ = inspect.Signature(params)
    return func


def _param(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def _add_routes(resource: MasterdataResource) -> None:
    create_model, public_model = _models(resource)
    name = resource.path.replace("-", "_")
    key_path = "/".join(f"{{{k}}}" for k in resource.key_fields)
    key_params = [_param(k, _KEY_PARAMS[k]) for k in resource.key_fields]
    not_found: dict[int | str, dict[str, Any]] = {404: {"description": f"No such {resource.singular}."}}

    def list_records(conn: Connection, _: MasterdataReader, limit: Limit = 100, offset: Offset = 0) -> Any:
        return [public_model.model_validate(r) for r in fetch_records(conn, resource, limit=limit, offset=offset)]

    def read_record(conn: Connection, _: MasterdataReader, **key: str) -> Any:
        rows = fetch_records(conn, resource, tuple(key[k] for k in resource.key_fields), limit=1)
        if not rows:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no such {resource.singular}")
        return public_model.model_validate(rows[0])

    def create_record(conn: Connection, caller: MasterdataWriter, record: Any) -> Any:
        _write(conn, resource, record, caller, create_only=True)
        return public_model.model_validate(record.model_dump())

    def replace_record(conn: Connection, caller: MasterdataWriter, response: Response, record: Any,
                       **key: str) -> Any:
        for field in resource.key_fields:
            if str(getattr(record, field)) != key[field]:
                raise field_error(("body", field), f"must equal the {field} in the path ({key[field]!r})")
        if _write(conn, resource, record, caller, create_only=False):
            response.status_code = status.HTTP_201_CREATED
        return public_model.model_validate(record.model_dump())

    body = Annotated[create_model, Body()]  # type: ignore[valid-type]
    conn_p, reader_p = _param("conn", Connection), _param("_", MasterdataReader)
    writer_p = _param("caller", MasterdataWriter)
    _with_signature(list_records, [conn_p, reader_p, _param("limit", Limit, 100), _param("offset", Offset, 0)])
    _with_signature(read_record, [conn_p, reader_p, *key_params])
    _with_signature(create_record, [conn_p, writer_p, _param("record", body)])
    _with_signature(replace_record, [conn_p, writer_p, _param("response", Response), _param("record", body),
                                     *key_params])

    path = f"/{resource.path}"
    router.add_api_route(path, list_records, methods=["GET"], response_model=list[public_model],  # type: ignore[valid-type]
                         name=f"list_{name}", summary=f"List {resource.path.replace('-', ' ')}")
    router.add_api_route(path, create_record, methods=["POST"], response_model=public_model,
                         status_code=status.HTTP_201_CREATED, name=f"create_{name}",
                         summary=f"Create a {resource.singular}",
                         responses={409: {"description": f"The {resource.singular} exists already, or a unique "
                                                         "value (a GTIN) belongs to another record."}})
    router.add_api_route(f"{path}/{key_path}", read_record, methods=["GET"], response_model=public_model,
                         name=f"read_{name}", summary=f"Read a {resource.singular}", responses=not_found)
    router.add_api_route(f"{path}/{key_path}", replace_record, methods=["PUT"], response_model=public_model,
                         name=f"replace_{name}", summary=f"Create or replace a {resource.singular}",
                         responses={201: {"description": f"The {resource.singular} was created.",
                                          "model": public_model},
                                    409: {"description": "A unique value (a GTIN) belongs to another record."}})


# -- sites' geofences as GeoJSON ------------------------------------------------------------------------------


class GeofenceFeature(BaseModel):
    """A site's geofence as a GeoJSON Feature (``id`` is the site id)."""

    model_config = ConfigDict(frozen=True)

    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any]
    properties: dict[str, Any]


class GeofenceCollection(BaseModel):
    """Every site's geofence as a GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[GeofenceFeature]


class GeofenceReplace(BaseModel):
    """A GeoJSON Polygon or MultiPolygon in [lon, lat] degrees."""

    model_config = ConfigDict(extra="allow")

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any] = Field(min_length=1)


_SITES = next(r for r in RESOURCES if r.path == "sites")


def _feature(site: dict[str, Any]) -> GeofenceFeature:
    return GeofenceFeature(id=site["id"], geometry=site["geofence"],
                           properties={"site_id": site["id"], "name": site["name"], "kind": site["kind"]})


@router.get("/geofences", response_model=GeofenceCollection, summary="Every site's geofence (GeoJSON)")
def list_geofences(conn: Connection, _: MasterdataReader, limit: Limit = 1000, offset: Offset = 0) -> Any:
    sites = fetch_records(conn, _SITES, limit=limit, offset=offset)
    return GeofenceCollection(features=[_feature(s) for s in sites])


@router.get("/sites/{id}/geofence", response_model=GeofenceFeature, summary="A site's geofence (GeoJSON)",
            responses={404: {"description": "No such site."}})
def read_geofence(conn: Connection, _: MasterdataReader, id: RecordId) -> Any:
    rows = fetch_records(conn, _SITES, (id,), limit=1)
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such site")
    return _feature(rows[0])


@router.put("/sites/{id}/geofence", response_model=GeofenceFeature, summary="Replace a site's geofence",
            responses={404: {"description": "No such site."}})
def replace_geofence(conn: Connection, caller: MasterdataWriter, id: RecordId,
                     geometry: Annotated[GeofenceReplace, Body()]) -> Any:
    with conn.transaction():
        rows = masterdata_reader.fetch_records(conn, Site, (id,), limit=None, for_update=True)
        if not rows:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such site")
        try:
            site = Site.model_validate({**rows[0], "geofence": geometry.model_dump()})
        except ValidationError as exc:
            message = exc.errors(include_url=False)[0]["msg"].removeprefix("Value error, ")
            raise field_error(("body",), message) from None
        upsert_records(conn, [site])
        record_change(conn, actor=caller.actor, role=caller.role, action="replace_geofence", resource="sites",
                      resource_id=id, details={"geofence": site.geofence})
    return _feature(site.model_dump())


for _resource in RESOURCES:
    _add_routes(_resource)
