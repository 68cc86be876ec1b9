"""Ground truth files hold exactly one run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from simulators.groundtruth import GroundTruth, read_facts


def test_a_second_run_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    at = datetime(2026, 11, 22, 6, tzinfo=UTC)
    for run in ("first", "second"):
        truth = GroundTruth(path)
        truth.record(at, "arrival", "TRK-01", run=run)
        truth.record(at, "arrival", "TRK-02", run=run)
        truth.close()
    facts = list(read_facts(path))
    assert [f["subject"] for f in facts] == ["TRK-01", "TRK-02"]
    assert {f["run"] for f in facts} == {"second"}
