"""EPCIS 2.0 JSON Schema validation (GS1's schema, tests/data/epcis)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from tests.helpers.paths import ROOT

DATA = ROOT / "tests" / "data" / "epcis"


SCHEMA = json.loads((DATA / "EPCIS-JSON-Schema.json").read_text())


VALIDATOR = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.FormatChecker())


def valid(document: dict[str, Any]) -> dict[str, Any]:
    errors = sorted(VALIDATOR.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    return document
