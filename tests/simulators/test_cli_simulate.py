"""``millstream simulate``: fleet and gates publish to the real broker; bad input is refused with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from connectors.kafka.topics import FLEET_GPS
from millstream.events.fleet import GpsPing
from millstream.serde import decode
from millstream.settings import load_settings
from tests.helpers.kafka import consume_messages
from tests.helpers.paths import ROOT

pytestmark = pytest.mark.subprocess

CLI = str(Path(sys.executable).parent / "millstream")


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, **env})


def test_simulate_fleet_publishes_pings_and_writes_ground_truth(kafka_bootstrap: str, tmp_path: Path) -> None:
    prefix = f"cli{uuid.uuid4().hex[:8]}."
    truth = tmp_path / "fleet.jsonl"
    result = _run(["simulate", "fleet", "--seed", "4", "--speed", "1000000", "--duration", "30",
                   "--ground-truth", str(truth)], MILLSTREAM_KAFKA__TOPIC_PREFIX=prefix)
    assert result.returncode == 0, result.stderr
    published = int(result.stdout.split("fleet: ")[-1].split(" pings")[0])
    assert published > 1000
    facts = [json.loads(line) for line in truth.read_text().splitlines()]
    assert sum(1 for f in facts if f["kind"] == "arrival") == 5
    settings = load_settings(kafka={"bootstrap_servers": kafka_bootstrap, "topic_prefix": prefix})
    messages = consume_messages(settings, FLEET_GPS.full_name(settings.kafka), published, timeout_s=60)
    assert len(messages) == published
    trucks = {decode(m.value(), GpsPing, time_policy=None).truck_id for m in messages}
    assert trucks == {"TRK-01", "TRK-02", "TRK-03", "TRK-04", "TRK-05"}


def test_impossible_settings_are_refused_with_the_reason(tmp_path: Path) -> None:
    result = _run(["simulate", "plant", "--speed", "-1"])
    assert result.returncode == 1 and "speed must be a positive" in result.stderr
    data = yaml.safe_load((ROOT / "scenarios" / "demo.yaml").read_text())
    data["machines"], data["production_orders"] = [], []
    no_machines = tmp_path / "empty.yaml"
    no_machines.write_text(yaml.safe_dump(data))
    result = _run(["simulate", "plant", "--scenario", str(no_machines), "--duration", "1"])
    assert result.returncode == 1 and "no machines" in result.stderr
    data = yaml.safe_load((ROOT / "scenarios" / "demo.yaml").read_text())
    data["simulation"] = {"fleet": {"cruise_speed_kmh": -5}}
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data))
    result = _run(["simulate", "fleet", "--scenario", str(broken)])
    assert result.returncode == 1 and "simulation.fleet.cruise_speed_kmh" in result.stderr
    data["simulation"] = {}
    data["machines"][0]["cycle_time_s"] = 0
    broken.write_text(yaml.safe_dump(data))
    result = _run(["simulate", "plant", "--scenario", str(broken)])
    assert result.returncode == 1 and "machines[0].cycle_time_s" in result.stderr


def test_offline_run_to_failure_file(tmp_path: Path) -> None:
    out = tmp_path / "rtf.csv"
    result = _run(["simulate", "plant", "--offline", "--units", "8", "--out", str(out), "--seed", "3"])
    assert result.returncode == 0, result.stderr
    rows = out.read_text().splitlines()
    assert rows[0].split(",")[:2] == ["unit", "cycle"]
    assert {r.split(",")[0] for r in rows[1:]} == {str(u) for u in range(1, 9)}
