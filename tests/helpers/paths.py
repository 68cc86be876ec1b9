"""Where things are: the repository, the test data, the demo scenario."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
DEMO = ROOT / "scenarios" / "demo.yaml"
