"""Master data through the API: create/replace/read, 422 naming the field, nothing half-written, audit."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.helpers import api_factories as f
from tests.helpers.api import auth

MD = "/api/v1/masterdata"


@pytest.fixture
def erp(client: TestClient, tokens: dict[str, str]) -> Any:
    class Erp:
        headers = auth(tokens["erp"])

        def post(self, path: str, body: dict[str, Any]) -> Any:
            return client.post(f"{MD}/{path}", json=body, headers=self.headers)

        def put(self, path: str, body: dict[str, Any]) -> Any:
            return client.put(f"{MD}/{path}", json=body, headers=self.headers)

        def get(self, path: str, **params: Any) -> Any:
            return client.get(f"{MD}/{path}", params=params, headers=self.headers)

        def created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = self.post(path, body)
            assert response.status_code == 201, response.text
            return response.json()

    return Erp()


@pytest.fixture
def world(erp: Any) -> dict[str, Any]:
    """Two sites, a dock door, two materials and a truck, created through the API."""
    origin, destination = erp.created("sites", f.site()), erp.created("sites", f.site(kind="customer"))
    return {"origin": origin, "destination": destination,
            "dock": erp.created("locations", f.location(origin["id"])),
            "steel": erp.created("materials", f.material()),
            "pump": erp.created("materials", f.material(kind="finished", uom="EA")),
            "truck": erp.created("trucks", f.truck())}


def errors(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in response.json()["detail"]}


def test_create_read_and_replace_a_material(erp: Any) -> None:
    body = f.material()
    assert erp.created("materials", body) == body
    assert erp.get(f"materials/{body['id']}").json() == body
    again = erp.post("materials", body)
    assert again.status_code == 409 and "already exists" in again.json()["detail"]

    changed = body | {"name": "Steel bar 40 mm", "reorder_point": 25}
    replaced = erp.put(f"materials/{body['id']}", changed)
    assert replaced.status_code == 200 and replaced.json() == changed
    assert erp.get(f"materials/{body['id']}").json() == changed

    new = f.material()
    assert erp.put(f"materials/{new['id']}", new).status_code == 201
    listed = {m["id"] for m in erp.get("materials", limit=1000).json()}
    assert {body["id"], new["id"]} <= listed
    assert erp.get("materials/NO-SUCH-MATERIAL").status_code == 404


def test_bad_fields_are_named_in_a_422(erp: Any) -> None:
    problems = errors(erp.post("materials", f.material(gtin="04012345010016", uom="XX")))
    assert "GS1 check digit" in problems["body.gtin"]
    assert "body.uom" in problems
    assert "body.name" in errors(erp.post("materials", {k: v for k, v in f.material().items() if k != "name"}))
    assert "body.id" in errors(erp.post("materials", f.material(id="bad id with spaces")))
    assert "body.extra" in errors(erp.post("materials", f.material(extra=1)))
    site = f.site(geofence={"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]})
    assert "self-intersecting" in errors(erp.post("sites", site))["body.geofence"]
    body = f.material()
    assert "must equal the id in the path" in errors(erp.put("materials/OTHER-ID", body))["body.id"]


def test_unknown_references_are_a_422_naming_the_field(erp: Any, world: dict[str, Any]) -> None:
    problems = errors(erp.post("locations", f.location("NO-SUCH-SITE")))
    assert problems == {"body.site_id": "unknown site 'NO-SUCH-SITE'"}
    bom = {"product_id": world["pump"]["id"], "components": [{"material_id": "NO-SUCH-MAT", "quantity": 2}]}
    assert errors(erp.post("boms", bom)) == {"body.components": "unknown material 'NO-SUCH-MAT'"}
    steel = {"material_id": world["steel"]["id"], "quantity": 2}
    bom["components"] = [steel, steel | {"quantity": 3}]
    assert errors(erp.post("boms", bom)) == {
        "body.components.1.material_id": f"material {world['steel']['id']!r} appears more than once"}
    assert erp.get(f"boms/{world['pump']['id']}").status_code == 404


def test_a_shipment_with_one_bad_item_is_not_half_written(erp: Any, world: dict[str, Any],
                                                          db: psycopg.Connection) -> None:
    items = [{"material_id": world["pump"]["id"], "quantity": 4}, {"material_id": "GHOST", "quantity": 1}]
    body = f.shipment(world["truck"]["id"], world["origin"]["id"], world["destination"]["id"], items)
    assert errors(erp.post("shipments", body)) == {"body.items": "unknown material 'GHOST'"}
    assert erp.get(f"shipments/{body['id']}").status_code == 404
    assert db.execute("SELECT count(*) AS n FROM shipment_items WHERE shipment_id = %s",
                      (body["id"],)).fetchone()["n"] == 0
    audit = db.execute("SELECT count(*) AS n FROM audit_log WHERE resource_id = %s", (body["id"],)).fetchone()
    assert audit["n"] == 0

    body["items"] = items[:1]
    assert erp.created("shipments", body)["items"] == items[:1]
    # replacing the shipment replaces its items (not appends)
    steel = {"material_id": world["steel"]["id"], "quantity": 100}
    replaced = erp.put(f"shipments/{body['id']}", body | {"items": [steel], "status": "loading"}).json()
    assert replaced["items"] == [steel] and replaced["status"] == "loading"
    assert erp.get(f"shipments/{body['id']}").json()["items"] == [steel]


def test_every_resource_round_trips(erp: Any, world: dict[str, Any]) -> None:
    origin, dock, pump, steel = world["origin"], world["dock"], world["pump"], world["steel"]
    machine = erp.created("machines", f.machine(origin["id"], dock["id"]))
    assert erp.get(f"machines/{machine['id']}").json()["opcua"] == machine["opcua"]
    order = erp.created("production-orders", {"id": f.unique("PO"), "machine_id": machine["id"],
                                              "product_id": pump["id"], "planned_qty": 40})
    assert erp.get(f"production-orders/{order['id']}").json()["status"] == "released"
    bom = {"product_id": pump["id"], "components": [{"material_id": steel["id"], "quantity": 2.5}]}
    assert erp.put(f"boms/{pump['id']}", bom).status_code == 201
    read_bom = erp.get(f"boms/{pump['id']}").json()
    assert read_bom == {**bom, "components": [{**c, "scrap_factor": 0.0} for c in bom["components"]]}
    code = f.gtin()
    epc = {"scheme": "sgtin", "code": code, "material_id": steel["id"], "quantity": 6}
    assert erp.put(f"epc-mappings/sgtin/{code}", epc).status_code == 201
    assert erp.get(f"epc-mappings/sgtin/{code}").json() == epc
    receipt = {"id": f.unique("RCV"), "location_id": dock["id"], "sscc": f.sscc(), "material_id": steel["id"],
               "quantity": 500, "expected_at": "2026-11-22T07:00:00Z"}
    assert erp.created("receipts", receipt) == receipt
    assert erp.get(f"receipts/{receipt['id']}").json() == receipt


def test_geofences_as_geojson(erp: Any, world: dict[str, Any]) -> None:
    site = world["origin"]
    feature = erp.get(f"sites/{site['id']}/geofence").json()
    assert feature == {"type": "Feature", "id": site["id"], "geometry": site["geofence"],
                       "properties": {"site_id": site["id"], "name": site["name"], "kind": site["kind"]}}
    collection = erp.get("geofences").json()
    assert collection["type"] == "FeatureCollection"
    assert site["id"] in {feat["id"] for feat in collection["features"]}
    bigger = {"type": "Polygon", "coordinates": [[[-2.1, 52.9], [-1.9, 52.9], [-1.9, 53.1], [-2.1, 53.1],
                                                  [-2.1, 52.9]]]}
    assert erp.put(f"sites/{site['id']}/geofence", bigger).json()["geometry"] == bigger
    assert erp.get(f"sites/{site['id']}").json()["geofence"] == bigger
    bow_tie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    response = erp.put(f"sites/{site['id']}/geofence", bow_tie)
    assert response.status_code == 422 and "self-intersecting" in response.text
    assert erp.get(f"sites/{site['id']}").json()["geofence"] == bigger
    assert erp.put("sites/NO-SUCH-SITE/geofence", bigger).status_code == 404


def test_every_change_is_audited(erp: Any, client: TestClient, tokens: dict[str, str],
                                 db: psycopg.Connection) -> None:
    body = f.material()
    erp.created("materials", body)
    erp.put(f"materials/{body['id']}", body | {"name": "renamed"})
    erp_key = tokens["erp"].split("_")[1]
    rows = db.execute("SELECT actor, role, action, resource, details, at FROM audit_log WHERE resource_id = %s"
                      " ORDER BY id", (body["id"],)).fetchall()
    assert [(r["actor"], r["role"], r["action"], r["resource"]) for r in rows] == [
        (f"apikey:{erp_key}", "erp", "create", "materials"), (f"apikey:{erp_key}", "erp", "replace", "materials")]
    assert rows[1]["details"]["name"] == "renamed" and rows[0]["at"].tzinfo is not None
    # admins read the log through the API; others may not
    entries = client.get("/api/v1/audit", params={"resource": "materials", "resource_id": body["id"]},
                         headers=auth(tokens["admin"])).json()
    assert [e["action"] for e in entries] == ["replace", "create"]
    assert client.get("/api/v1/audit", headers=auth(tokens["erp"])).status_code == 403


def test_a_unique_gtin_clash_is_a_conflict(erp: Any, world: dict[str, Any]) -> None:
    clash = erp.post("materials", f.material(gtin=world["steel"]["gtin"]))
    assert clash.status_code == 409
    assert clash.json() == {"detail": f"conflicts with an existing material with gtin {world['steel']['gtin']!r}"}


def test_values_the_database_cannot_store_are_a_422(erp: Any, world: dict[str, Any]) -> None:
    response = erp.post("trucks", f.truck(plate="MS\x0001"))
    assert response.status_code == 422, response.text
    response = erp.post("trucks", f.truck(capacity_pallets=2**40))
    assert response.status_code == 422, response.text


def test_replacing_with_another_records_gtin_is_a_conflict(erp: Any, world: dict[str, Any]) -> None:
    pump = world["pump"]
    clash = erp.put(f"materials/{pump['id']}", pump | {"gtin": world["steel"]["gtin"]})
    assert clash.status_code == 409
    assert erp.get(f"materials/{pump['id']}").json() == pump
