"""``millstream logistics`` and ``millstream device`` through the command line (in-process, with the
environment a user would set): master data from the database, a summary at the end, one clear line and exit 3
when PostgreSQL is unreachable."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from connectors.postgres.database import connect
from connectors.postgres.masterdata import load_scenario
from connectors.postgres.migrations import migrate
from millstream.masterdata import read_scenario
from millstream.settings import Settings, get_settings, load_settings
from simulators.fleet.simulation import FleetSimulation
from tests.helpers.databases import create_database, drop_database
from tests.helpers.logistics import produce
from tests.helpers.paths import ROOT

START = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def loaded(server_url: str, settings: Settings) -> Iterator[dict[str, str]]:
    """A migrated database with the demo master data, and the environment pointing the CLI at it."""
    url = create_database(server_url, "millstream_logicli")
    db = load_settings(database={"url": url}).database
    scenario = read_scenario(ROOT / "scenarios" / "demo.yaml").rebased(START)
    with connect(db) as conn:
        migrate(conn, db)
        load_scenario(conn, scenario)
        conn.commit()
    pings = [e.event for e in FleetSimulation(scenario, seed=1).timeline() if e.event is not None]
    produce(settings, pings[: len(pings) // 4])
    yield {"MILLSTREAM_DATABASE__URL": url, "MILLSTREAM_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix}
    drop_database(url)


def run(*args: str, env: dict[str, str]) -> Result:
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **env})
    finally:
        get_settings.cache_clear()


def test_logistics_reads_master_data_from_the_database_and_summarises(loaded: dict[str, str], tmp_path: Path) -> None:
    env = {**loaded, "MILLSTREAM_DATA_DIR": str(tmp_path)}
    result = run("logistics", "--once", env=env)
    assert result.exit_code == 0, result.output
    assert "logistics: 5 trucks, 5 shipments, 3 site fences" in result.stdout
    assert "shipments:" in result.stdout and "in_transit" in result.stdout  # the summary line at the end

    added = run("device", "add", "TRK-01", "--device-id", "phone-1", env=env)
    assert added.exit_code == 0, added.output
    assert added.stdout.strip().startswith("dk_") and "shown only this once" in added.stderr
    assert "phone-1" in run("device", "list", env=env).stdout
    assert run("device", "revoke", "phone-1", env=env).exit_code == 0
    assert run("device", "revoke", "phone-1", env=env).exit_code == 1


def test_unreachable_database_is_one_line_and_exit_3() -> None:
    result = run("logistics", "--once", env={"MILLSTREAM_DATABASE__URL": "postgresql://postgres@127.0.0.1:1/x"})
    assert result.exit_code == 3
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot connect to PostgreSQL" in lines[0], result.stderr


def test_rebase_to_puts_promised_windows_on_the_timeline_simulate_uses(settings: Settings) -> None:
    """``--rebase-to`` is the run's origin: ``simulation.start`` (not the epoch) becomes that instant, as in
    ``millstream simulate`` — so the promised windows match the trucks the simulator drives."""
    from cli.logistics import _master_data
    from simulators.clock import run_scenario
    from simulators.config import simulation_config

    path = ROOT / "scenarios" / "demo.yaml"
    original = read_scenario(path)
    start = simulation_config(original).start
    assert start is not None and start != original.epoch  # the demo's two instants differ (07:40 vs 06:00)
    origin = START
    data = _master_data(settings, path, origin)
    simulated = run_scenario(original, origin)  # what simulate hands to the fleet simulation
    assert [(s.promised_from, s.promised_to) for s in data.shipments] == [
        (s.promised_from, s.promised_to) for s in simulated.shipments]
    for got, written in zip(data.shipments, original.shipments, strict=True):
        assert got.promised_from - origin == written.promised_from - start
        assert got.promised_to - origin == written.promised_to - start


def test_master_data_is_one_helper_for_both_flows(settings: Settings, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """``cli.flows.master_data``: the scenario file, or the database's; a bad file, missing tables or an
    unreachable database is one clear line and the right exit code."""
    import typer

    from cli.flows import master_data

    path = ROOT / "scenarios" / "demo.yaml"
    assert master_data(settings, path, "inventory").name == read_scenario(path).name
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsites: []\n")
    with pytest.raises(typer.Exit) as exited:
        master_data(settings, bad, "inventory")
    assert exited.value.exit_code == 1
    with pytest.raises(typer.Exit) as exited:
        master_data(settings, path, "logistics", "SELECT 1 FROM no_such_table")
    assert exited.value.exit_code == 3 and "not ready for logistics" in capsys.readouterr().err
    down = load_settings(database={"url": "postgresql://postgres@127.0.0.1:1/x"})
    with pytest.raises(typer.Exit) as exited:
        master_data(down, None, "inventory")
    assert exited.value.exit_code == 3
