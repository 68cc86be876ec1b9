"""The layout of tests/: a test module imports shared code from tests/helpers/ only, never another test module
and never a conftest (fixtures reach tests through pytest, not imports). That bench/ and tests/ never import
each other is an import-linter contract in pyproject.toml (`make lint`)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers.paths import ROOT

TESTS = ROOT / "tests"
HELPERS = TESTS / "helpers"


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, relative imports resolved; ``from a import b`` gives
    ``a.b`` too, as ``b`` may be a module."""
    package = _module_name(path).rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if alias.name != "*"]
    return found


def _allowed(module: str) -> bool:
    parts = module.split(".")
    if "conftest" in parts:
        return False
    if parts[0] != "tests":
        return True
    return len(parts) == 1 or parts[1] == "helpers"


def _test_modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py")
                  if HELPERS not in p.parents and p.name != "conftest.py" and "__pycache__" not in p.parts)


def test_the_rule_itself() -> None:
    assert _allowed("tests.helpers.kafka") and _allowed("connectors.kafka") and _allowed("tests")
    assert not _allowed("tests.api.test_roles") and not _allowed("tests.conftest")
    assert not _allowed("tests.connectors.opcua.conftest") and not _allowed("conftest")


def test_test_modules_import_only_helpers_from_tests() -> None:
    modules = _test_modules()
    assert len(modules) > 50
    bad = [f"{path.relative_to(ROOT)}:{line}: {name}"
           for path in modules for line, name in _imported(path) if not _allowed(name)]
    assert not bad, "a test module imports another test module or a conftest (move shared code to " \
                    "tests/helpers/):\n" + "\n".join(bad)


def test_helpers_and_conftests_import_no_test_module_and_no_conftest() -> None:
    shared = sorted({*HELPERS.rglob("*.py"), *TESTS.rglob("conftest.py")})
    bad = [f"{path.relative_to(ROOT)}:{line}: {name}"
           for path in shared for line, name in _imported(path) if not _allowed(name)]
    assert not bad, "\n".join(bad)
