"""The vendored browser libraries are exactly the pinned versions of api/static/vendor/versions.json (the one
place they are listed; scripts/vendor-ui.sh fetches them from the npm registry): each library's VERSION, the
version inside its code, the SHA-256 of every file as fetched, and a licence."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from api.ui import STATIC_DIR
from tests.helpers.paths import ROOT

VENDOR = STATIC_DIR / "vendor"
PINS = json.loads((VENDOR / "versions.json").read_text())
#: Where each library's code says its own version.
VERSION_IN_CODE = {"uplot": ("uPlot.esm.js", r"uPlot \(v([0-9.]+)\)"),
                   "leaflet": ("leaflet-src.esm.js", r'var version = "([0-9.]+)"')}


def test_the_pins_name_uplot_and_leaflet_only() -> None:
    assert set(PINS) == {"uplot", "leaflet"} == {p.name for p in VENDOR.iterdir() if p.is_dir()}


@pytest.mark.parametrize("name", sorted(PINS))
def test_vendored_files_match_the_pinned_version(name: str) -> None:
    pin = PINS[name]
    folder = VENDOR / name
    assert (folder / "VERSION").read_text().strip() == pin["version"]
    code, pattern = VERSION_IN_CODE[name]
    assert re.search(pattern, (folder / code).read_text(encoding="utf-8"))[1] == pin["version"]  # type: ignore[index]
    expected = {f.removeprefix("dist/") for f in pin["files"]}
    present = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {"VERSION", "SHA256SUMS"}
    assert present == expected
    sums = dict(reversed(line.split(maxsplit=1)) for line in (folder / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == expected
    for file, digest in sums.items():
        assert hashlib.sha256((folder / file).read_bytes()).hexdigest() == digest, f"{name}/{file} was changed"
    licence = (folder / "LICENSE").read_text()
    assert "Permission is hereby granted" in licence or "BSD" in licence


def test_the_versions_are_written_in_one_place() -> None:
    script = (ROOT / "scripts" / "vendor-ui.sh").read_text()
    assert "versions.json" in script
    for pin in PINS.values():
        assert pin["version"] not in script
