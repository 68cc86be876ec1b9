"""EPCIS 2.0 and the inventory API on a flow's output: every ``/epcis/events`` answer validates against
GS1's EPCIS 2.0 JSON Schema (tests/data/epcis/), with filters and pagination; stock, movements (JSON and
CSV) and exceptions as the ledger has them; roles enforced."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from bytewax.testing import run_main
from fastapi.testclient import TestClient

from api.app import create_app
from connectors.kafka.producer import EventProducer
from connectors.kafka.topics import TELEMETRY_READINGS, WAREHOUSE_RFID
from connectors.postgres.apikeys import create_api_key
from millstream.epc import encode_sgtin96, encode_sscc96
from millstream.events import RfidRead, SensorReading
from millstream.masterdata import read_scenario
from millstream.settings import Settings
from streams.inventory import build_flow
from tests.helpers.epcis import DATA, VALIDATOR, valid
from tests.helpers.paths import DEMO

T0 = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)




@pytest.mark.parametrize("example", sorted(p.name for p in DATA.glob("Example_*.jsonld")))
def test_the_official_examples_pass_the_schema(example: str) -> None:
    valid(json.loads((DATA / example).read_text()))


def test_the_schema_refuses_a_broken_event() -> None:
    broken = {"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
              "type": "EPCISQueryDocument", "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery",
              "resultsBody": {"eventList": [{"type": "ObjectEvent", "action": "LOOK", "eventTime": "now"}]}}}}
    assert list(VALIDATOR.iter_errors(broken))


@pytest.fixture
def api(inv_settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with psycopg.connect(inv_settings.database.url.get_secret_value(), autocommit=True) as conn:
        keys = {role: create_api_key(conn, role, f"test {role}").token for role in ("engineer", "dispatcher", "erp")}
    with TestClient(create_app(inv_settings)) as client:
        yield client, keys


def _inputs() -> tuple[list[SensorReading], list[RfidRead]]:
    pallet = encode_sscc96("040123450001000022", 7)  # GR-7003, aluminium, LIV-DOCK-01
    cases = [encode_sgtin96("04012345010022", n, 7) for n in range(1, 6)]  # aluminium to line A
    pumps = [encode_sgtin96("04012345040012", n, 7) for n in range(1, 4)]  # pumps onto SHP-5001
    reads = [RfidRead(reader_id="RDR-LIV-DOCK-01", antenna=1, epc=pallet, rssi_dbm=-50, timestamp=T0)]
    reads += [RfidRead(reader_id="RDR-LIV-LINE-A", antenna=2, epc=e, rssi_dbm=-55,
                       timestamp=T0 + timedelta(minutes=5, seconds=i)) for i, e in enumerate(cases)]
    reads += [RfidRead(reader_id="RDR-LIV-DOCK-03", antenna=1, epc=e, rssi_dbm=-51,
                       timestamp=T0 + timedelta(minutes=10, seconds=i)) for i, e in enumerate(pumps)]
    readings = [SensorReading(machine_id="ASSY-01", tag=tag, value=value, source_timestamp=T0 + timedelta(minutes=m))
                for m, tag, value in [(0, "active_order", "PO-1013"), (0, "good_parts", 0), (2, "good_parts", 2)]]
    return readings, reads


def test_epcis_stock_movements_and_exceptions(inv_settings: Settings,
                                              api: tuple[TestClient, dict[str, str]]) -> None:
    readings, reads = _inputs()
    with EventProducer(inv_settings.kafka) as producer:
        for reading in readings:
            producer.send(TELEMETRY_READINGS, reading)
        for read in reads:
            producer.send(WAREHOUSE_RFID, read)
    # A world with no pumps in stock at Liverpool (the demo keeps 45 there for its first truck): two are made,
    # three shipped.
    demo = read_scenario(DEMO)
    scenario = demo.model_copy(update={"initial_stock": [
        s for s in demo.initial_stock if (s.material_id, s.location_id) != ("FG-PUMP-P100", "LIV-FG")]})
    run_main(build_flow(inv_settings, scenario, follow=False))
    client, keys = api
    engineer = {"Authorization": f"Bearer {keys['engineer']}"}

    doc = valid(client.get("/api/v1/epcis/events", headers=engineer).json())
    events = doc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert len(events) == 9
    assert [(e["bizStep"], e["disposition"]) for e in events][:2] == [("receiving", "in_progress"),
                                                                       ("stocking", "available")]
    receiving = events[0]
    assert receiving["epcList"] == ["urn:epc:id:sscc:4012345.0000100002"]
    assert receiving["readPoint"] == {"id": "urn:millstream:location:LIV-DOCK-01"}
    assert receiving["bizLocation"] == {"id": "urn:millstream:location:LIV-WH"}
    shipping = [e for e in events if e["bizStep"] == "shipping"]
    assert len(shipping) == 3 and all("bizLocation" not in e for e in shipping)
    assert shipping[0]["bizTransactionList"] == [{"type": "desadv",
                                                  "bizTransaction": "urn:millstream:shipment:SHP-5001"}]

    # Pages of 4 follow the Link header to the end; every page is a valid document.
    seen, url, pages = [], "/api/v1/epcis/events?perPage=4", 0
    while url:
        answer = client.get(url, headers=engineer)
        page = valid(answer.json())["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        seen += [e["eventID"] for e in page]
        pages += 1
        link = answer.headers.get("link")
        url = link[1:link.index(">")].replace("http://testserver", "") if link else ""
    assert pages == 3 and seen == [e["eventID"] for e in events]
    by_location = valid(client.get("/api/v1/epcis/events", params={"location": "LIV-LINE-A"},
                                   headers=engineer).json())
    assert len(by_location["epcisBody"]["queryResults"]["resultsBody"]["eventList"]) == 5
    by_epc = valid(client.get("/api/v1/epcis/events", params={"MATCH_epc": reads[0].epc}, headers=engineer).json())
    assert len(by_epc["epcisBody"]["queryResults"]["resultsBody"]["eventList"]) == 1
    late = valid(client.get("/api/v1/epcis/events", params={"GE_eventTime": (T0 + timedelta(minutes=10)).isoformat()},
                            headers=engineer).json())
    assert len(late["epcisBody"]["queryResults"]["resultsBody"]["eventList"]) == 3
    assert client.get("/api/v1/epcis/events", params={"nextPageToken": "garbage"}, headers=engineer
                      ).status_code == 400

    stock = {(s["material_id"], s["location_id"]): s for s in client.get("/api/v1/stock", headers=engineer).json()}
    assert float(stock[("RM-ALU-BILLET", "LIV-WH")]["quantity"]) == 2000 + 400 - 5
    assert float(stock[("RM-ALU-BILLET", "LIV-LINE-A")]["quantity"]) == 250 + 5
    lots = stock[("RM-ALU-BILLET", "LIV-LINE-A")]["lots"]
    assert {lot["lot"] for lot in lots} == {"OPENING"}  # FIFO: the five cases came out of the opening lot
    bearings = stock[("CP-BEARING-6204", "LIV-LINE-B")]
    assert float(bearings["quantity"]) == 400 - 2 * 2 and bearings["reorder_point"] is None  # no policy loaded
    movements = client.get("/api/v1/movements", params={"movement_type": "transfer"}, headers=engineer).json()
    assert len(movements) == 5 and {m["to_location_id"] for m in movements} == {"LIV-LINE-A"}
    exported = client.get("/api/v1/movements", params={"format": "csv", "limit": 1000}, headers=engineer)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == len(client.get("/api/v1/movements", params={"limit": 1000}, headers=engineer).json())
    exceptions = client.get("/api/v1/stock/exceptions", headers=engineer).json()
    # Two pumps made, three shipped: the ledger went below zero, at the third (movements apply in event-time order).
    assert [(e["material_id"], e["location_id"], e["movement_type"], float(e["on_hand"])) for e in exceptions] == [
        ("FG-PUMP-P100", "LIV-FG", "goods_issue", -1.0)]
    assert float(stock[("FG-PUMP-P100", "LIV-FG")]["quantity"]) == -1
    assert client.get("/api/v1/stock", headers={"Authorization": f"Bearer {keys['dispatcher']}"}).status_code == 403
    assert client.get("/api/v1/epcis/events", headers={"Authorization": f"Bearer {keys['dispatcher']}"}
                      ).status_code == 200
    assert client.get("/api/v1/stock").status_code == 401
