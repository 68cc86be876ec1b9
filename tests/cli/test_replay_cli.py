"""``millstream replay gps`` on bad input: rows that are no fix are reported with line and reason, an
impossible jump does not move the vehicle, a file without the needed columns or fence is refused clearly."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from tests.helpers.paths import ROOT

FENCES = ROOT / "tests" / "data" / "gps" / "route14_fences.geojson"


def replay(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["replay", "gps", *args])
    return result.exit_code, result.stdout, result.stderr


def test_bad_rows_are_reported_and_skipped(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    rows = ["device,time,lat,lng,speed_kmh"]
    rows += [f"bus-1,{1769443200 + 30 * i},{53.4078 + 0.0004 * i},-2.983,20" for i in range(12)]  # leaves Queen Sq
    rows += ["bus-1,1769443600,nan,-2.983,0", "bus-1,1769443630,95,-2.983,0", ",1769443640,53.4,-2.9,0",
             "bus-1,not-a-time,53.4,-2.9,0", "bus-1,1769443700,53.9,-2.983,0"]  # the last: 50 km in 5 min
    csv.write_text("\n".join(rows) + "\n")
    code, out, err = replay(str(csv), "--geofences", str(FENCES), "--json")
    assert code == 0, err
    assert "line 14: rejected: latitude and longitude must be finite" in err
    assert "line 15: rejected: latitude 95.0 is outside -90..90" in err
    assert "line 16: rejected: no vehicle id" in err
    assert "line 17: rejected: unreadable value" in err
    assert "4 rejected" in err and "1 outlier fixes dropped" in err
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["fence"], e["event"]) for e in events] == [("queen-square", "enter"), ("queen-square", "exit")]


def test_missing_columns_and_unknown_fence_are_refused(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("who,when,y\nbus,1,2\n")
    code, _, err = replay(str(csv), "--geofences", str(FENCES))
    assert code == 1 and "cannot find the vehicle, time, lat, lon column(s)" in " ".join(err.split())
    csv.write_text("vehicle_id,timestamp,latitude,longitude\nbus,2026-01-26T10:00:00Z,53.4,-2.9\n")
    code, _, err = replay(str(csv), "--geofences", str(FENCES), "--eta-to", "nowhere")
    assert code == 1 and "no such fence" in err
