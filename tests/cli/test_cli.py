"""The `millstream` console script, run as a user would, against the real services."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from connectors.kafka.topics import TOPICS
from connectors.postgres.database import connect
from millstream.settings import DatabaseSettings, Settings
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.subprocess

MILLSTREAM = str(Path(sys.executable).with_name("millstream"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([MILLSTREAM, *args], capture_output=True, text=True, env=full_env, timeout=120,
                          cwd=ROOT, check=False)


def test_help_lists_the_commands_and_every_command_has_help() -> None:
    out = run("--help")
    assert out.returncode == 0
    for command in ("version", "db", "kafka", "masterdata", "ingest", "simulate", "bridge", "dispatch", "api"):
        assert command in out.stdout
    for sub in (("db", "migrate"), ("kafka", "create-topics"), ("masterdata", "load"), ("masterdata", "validate")):
        result = run(*sub, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout


def test_version() -> None:
    out = run("version")
    assert out.returncode == 0
    assert out.stdout.startswith("millstream ")


def test_db_migrate_twice_is_a_no_op_the_second_time(empty_database: str) -> None:
    env = {"MILLSTREAM_DATABASE__URL": empty_database}
    first = run("db", "migrate", env=env)
    second = run("db", "migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "applied  0001_time_series" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "applied" not in second.stdout.replace("already applied", "")
    assert "nothing to do" in second.stdout


def test_masterdata_load_and_a_broken_file(empty_database: str, tmp_path: Path) -> None:
    env = {"MILLSTREAM_DATABASE__URL": empty_database}
    assert run("db", "migrate", env=env).returncode == 0
    data = yaml.safe_load((ROOT / "scenarios/demo.yaml").read_text())
    data["production_orders"][3]["machine_id"] = "GHOST-99"
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data))
    refused = run("masterdata", "load", str(broken), env=env)
    assert refused.returncode == 1
    assert "broken.yaml" in refused.stderr
    assert "production_orders[3].machine_id: unknown machine 'GHOST-99'" in refused.stderr.replace("\n", "")
    with connect(DatabaseSettings(url=empty_database)) as conn:
        assert conn.execute("SELECT count(*) AS n FROM sites").fetchone() == {"n": 0}
    loaded = run("masterdata", "load", "scenarios/demo.yaml", env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert "machines=6" in loaded.stdout


def test_kafka_create_topics_twice(settings: Settings) -> None:
    env = {"MILLSTREAM_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix}
    first = run("kafka", "create-topics", env=env)
    second = run("kafka", "create-topics", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("created") == len(TOPICS)
    assert second.stdout.count("exists") == len(TOPICS)


@pytest.mark.parametrize("command", [("db", "migrate"), ("kafka", "create-topics")])
def test_a_wrong_setting_is_refused_naming_the_variable(command: tuple[str, ...]) -> None:
    out = run(*command, env={"MILLSTREAM_DATABASE__POOL_MAX_SIZE": "-1"})
    assert out.returncode == 2
    assert "MILLSTREAM_DATABASE__POOL_MAX_SIZE" in out.stderr


def test_unreachable_database_exits_3_without_the_password() -> None:
    out = run("db", "migrate", env={"MILLSTREAM_DATABASE__URL": "postgresql://u:hunter2@127.0.0.1:1/x"})
    assert out.returncode == 3
    assert "cannot connect to PostgreSQL" in out.stderr
    assert "hunter2" not in out.stderr + out.stdout


def test_ingest_once_with_a_recovery_directory(settings: Settings, tmp_path: Path) -> None:
    from connectors.kafka.admin import create_topics

    create_topics(settings.kafka)
    env = {"MILLSTREAM_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
           "MILLSTREAM_DATABASE__URL": settings.database.url.get_secret_value()}
    recovery = tmp_path / "recovery"
    out = run("ingest", "--once", "--recovery-dir", str(recovery), env=env)
    assert out.returncode == 0, out.stderr
    assert "ingest finished" in out.stdout
    assert list(recovery.glob("part-*.sqlite3"))
