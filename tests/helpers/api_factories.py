"""Valid master-data bodies with ids unique to the test (the session database is shared)."""

from __future__ import annotations

import random
from typing import Any

from millstream.gs1 import check_digit
from tests.helpers.api import unique


def gtin() -> str:
    body = "0" + "".join(random.choices("0123456789", k=12))
    return body + str(check_digit(body))


def sscc() -> str:
    body = "0" + "".join(random.choices("0123456789", k=16))
    return body + str(check_digit(body))


def site(**over: Any) -> dict[str, Any]:
    square = [[-2.0, 53.0], [-1.99, 53.0], [-1.99, 53.01], [-2.0, 53.01], [-2.0, 53.0]]
    return {"id": unique("SITE"), "name": "Test site", "kind": "plant", "lat": 53.005, "lon": -1.995,
            "geofence": {"type": "Polygon", "coordinates": [square]}} | over


def location(site_id: str, **over: Any) -> dict[str, Any]:
    return {"id": unique("LOC"), "site_id": site_id, "name": "Dock 1", "kind": "dock_door",
            "direction": "inbound"} | over


def material(**over: Any) -> dict[str, Any]:
    return {"id": unique("MAT"), "name": "Steel bar", "kind": "raw", "uom": "KG", "gtin": gtin(),
            "reorder_point": 10, "reorder_qty": 50} | over


def truck(**over: Any) -> dict[str, Any]:
    return {"id": unique("TRK"), "plate": "MS-01", "capacity_pallets": 30} | over


def shipment(truck_id: str, origin: str, destination: str, items: list[dict[str, Any]], **over: Any
             ) -> dict[str, Any]:
    return {"id": unique("SHP"), "truck_id": truck_id, "origin_site_id": origin,
            "destination_site_id": destination, "promised_from": "2026-11-22T08:00:00Z",
            "promised_to": "2026-11-22T10:00:00Z", "status": "planned",
            "route": {"type": "LineString", "coordinates": [[-2.0, 53.0], [-1.5, 53.8]]}, "items": items} | over


def machine(site_id: str, location_id: str, **over: Any) -> dict[str, Any]:
    machine_id = unique("M")
    return {"id": machine_id, "name": "CNC", "site_id": site_id, "location_id": location_id, "kind": "cnc",
            "cycle_time_s": 30, "opcua": {"endpoint": "opc.tcp://127.0.0.1:4840/x",
                                          "nodes": {"SpindleTemp": f"ns=2;s={machine_id}.SpindleTemp"}}} | over
