"""The master-data read path: what ``load_scenario`` writes, ``read_scenario`` reads back equal."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.postgres.database import connect
from connectors.postgres.masterdata import load_scenario
from connectors.postgres.masterdata_reader import fetch_records, read_records, read_scenario
from connectors.postgres.migrations import migrate
from millstream.errors import ScenarioError
from millstream.masterdata import Machine, Scenario, Site
from millstream.masterdata import read_scenario as read_scenario_file
from millstream.settings import DatabaseSettings
from tests.helpers.paths import DEMO

_KEYS = {"boms": "product_id", "epc_mappings": "code", "initial_stock": "location_id"}


def _comparable(s: Scenario) -> dict[str, Any]:
    """The scenario's master data (not the simulators' section) with every list in key order."""
    data = s.model_dump(exclude={"simulation", "description", "epoch"})
    for name, value in data.items():
        if isinstance(value, list):
            key = _KEYS.get(name, "id")
            value.sort(key=lambda r, key=key: (r.get(key), r.get("material_id"), r.get("scheme")))
            for record in value:
                for child in ("components", "items"):
                    if child in record:
                        record[child].sort(key=lambda c: c["material_id"])
    return data


def test_demo_scenario_reads_back_equal(empty_database: str) -> None:
    db = DatabaseSettings(url=empty_database)
    scenario = read_scenario_file(DEMO)
    with connect(db) as conn:
        migrate(conn, db)
        load_scenario(conn, scenario)
        back = read_scenario(conn)
        machines = read_records(conn, Machine)
        one_site = fetch_records(conn, Site, (scenario.sites[0].id,), limit=1)
    assert isinstance(back, Scenario)
    assert back.name == scenario.name
    assert _comparable(back) == _comparable(scenario)
    assert sorted(m.id for m in machines) == sorted(m.id for m in scenario.machines)
    assert machines[0].opcua.nodes  # nested mapping survives the round trip
    assert [Site.model_validate(r) for r in one_site] == [scenario.sites[0]]


def test_an_empty_database_is_a_clear_error(empty_database: str) -> None:
    db = DatabaseSettings(url=empty_database)
    with connect(db) as conn:
        migrate(conn, db)
        with pytest.raises(ScenarioError, match="no master data in the database"):
            read_scenario(conn)
