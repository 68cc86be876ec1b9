"""Scenario files: the demo is valid; broken ones are refused naming the file, field and problem."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from millstream.errors import ScenarioError
from millstream.gs1 import check_digit, is_valid_gtin, is_valid_sscc
from millstream.masterdata import parse_scenario, read_scenario
from tests.helpers.paths import DEMO


@pytest.fixture(scope="module")
def demo_data() -> dict[str, Any]:
    return yaml.safe_load(DEMO.read_text())


def test_demo_scenario_has_the_promised_size() -> None:
    scenario = read_scenario(DEMO)
    assert len(scenario.machines) == 6
    assert len(scenario.materials) == 10
    assert len(scenario.sites) == 3
    assert len(scenario.trucks) == 5
    assert all(m.opcua.nodes["vibration_rms"] == f"ns=2;s={m.id}.VibrationRms" for m in scenario.machines)


def test_rebased_shifts_every_time_by_the_same_amount() -> None:
    scenario = read_scenario(DEMO)
    start = datetime(2030, 1, 1, 6, tzinfo=UTC)
    shifted = scenario.rebased(start)
    assert scenario.epoch is not None
    delta = start - scenario.epoch
    assert [s.promised_from - delta for s in shifted.shipments] == [s.promised_from for s in scenario.shipments]
    assert [r.expected_at - delta for r in shifted.receipts] == [r.expected_at for r in scenario.receipts]


def broken(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is DELETE:
        del node[int(last) if last.isdigit() else last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return data


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("machines.2.site_id", "NOWHERE", "machines[2].site_id: unknown site 'NOWHERE'"),
        ("machines.0.cycle_time_s", -3, "machines[0].cycle_time_s: Input should be greater than 0"),
        ("materials.1.gtin", "04012345010020", "materials[1].gtin: gtin must be 14 digits with a valid GS1"),
        ("sites.0.geofence", {"type": "Point", "coordinates": [0, 0]}, "sites[0].geofence: geofence must be a"),
        ("sites.1.lat", 123, "sites[1].lat: Input should be less than or equal to 90"),
        ("shipments.0.promised_to", "2026-11-22T07:00:00Z", "shipments[0]: promised_to must be after"),
        ("shipments.1.route", {"type": "LineString", "coordinates": [[0, 0]]}, "shipments[1].route: route must"),
        ("production_orders.0.planned_qty", 0, "production_orders[0].planned_qty: Input should be greater than 0"),
        ("receipts.0.location_id", "LIV-WH", "receipts[0].location_id: 'LIV-WH' is a warehouse, not a dock_door"),
        ("trucks.1.id", "TRK-01", "trucks: duplicate id 'TRK-01'"),
        ("machines.0.opcua.endpoint", "http://x", "machines[0].opcua.endpoint: String should match pattern"),
        ("sites.0.name", DELETE, "sites[0].name: Field required"),
        ("shipments.0.surprise", 1, "shipments[0].surprise: Extra inputs are not permitted"),
        ("boms.2.components.1.material_id", "SF-SHAFT",
         "boms[2].components[1].material_id: material 'SF-SHAFT' appears more than once"),
    ],
)
def test_broken_scenarios_name_field_and_problem(demo_data: dict[str, Any], path: str, value: Any,
                                                 message: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(broken(demo_data, path, value), "plant.yaml")
    assert str(exc.value).startswith("plant.yaml: ")
    assert message in str(exc.value)


def test_unreadable_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        read_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"bad.yaml: not valid YAML"):
        read_scenario(bad)
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(ScenarioError, match="mapping at the top level"):
        read_scenario(listing)


def test_gs1_check_digits() -> None:
    assert check_digit("8061414112345") == 8  # GTIN 80614141123458 from the GS1 EPC TDS example
    assert is_valid_gtin("80614141123458")
    assert not is_valid_gtin("80614141123459")
    assert is_valid_sscc("106141412345678908")
    assert not is_valid_sscc("106141412345678909")
