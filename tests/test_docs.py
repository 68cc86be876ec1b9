"""Docs stay true to the code: every setting is in the README's configuration table, every package is on the
architecture page, and every module path the docs name exists."""

from __future__ import annotations

import ast
import re
import tomllib
from functools import cache
from pathlib import Path

import pytest
from pydantic import BaseModel

from millstream.settings import Settings, env_var_name
from tests.helpers.paths import ROOT

README = ROOT / "README.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
#: Every Markdown page that names the project's modules: the README, docs/, and the packages' READMEs.
DOC_PAGES = sorted(
    [README, *(ROOT / "docs").glob("*.md")]
    + [page for init in ROOT.glob("*/__init__.py") for page in init.parent.rglob("README.md")]
)


def all_env_vars() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names += [env_var_name((name, sub)) for sub in ann.model_fields]
        else:
            names.append(env_var_name((name,)))
    return names


def test_readme_lists_every_setting() -> None:
    text = README.read_text()
    missing = [var for var in all_env_vars() if f"`{var}`" not in text]
    assert not missing, f"README configuration table lacks: {missing}"


def test_readme_quick_start_has_the_two_commands() -> None:
    text = README.read_text()
    quick = text.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make demo" in quick and "make test" in quick


# --- packages and module paths ------------------------------------------------------------------------------


@cache
def top_level_packages() -> tuple[str, ...]:
    """The installed packages (pyproject's ``packages.find`` include, without ``*``), then bench and tests."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    names = [pattern.rstrip("*").rstrip(".") for pattern in include]
    return (*dict.fromkeys([*names, "bench", "tests"]),)


def millstream_subpackages() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "millstream").glob("*/__init__.py"))


def names_path(text: str, path: str) -> bool:
    """``path`` (such as ``api/``) is written in ``text`` as a path of its own, not inside another one."""
    return re.search(rf"(?<![\w/.-]){re.escape(path)}", text) is not None


def readme_architecture() -> str:
    return README.read_text().split("## Architecture in a few lines", 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize("page", ["docs/architecture.md", "README.md"])
def test_every_package_is_named(page: str) -> None:
    text = ARCHITECTURE.read_text() if page == "docs/architecture.md" else readme_architecture()
    wanted = [f"{name}/" for name in top_level_packages()]
    wanted += [f"millstream/{name}/" for name in millstream_subpackages()]
    missing = [path for path in wanted if not names_path(text, path)]
    assert not missing, f"{page} does not name {missing}"


def test_architecture_names_every_settings_group() -> None:
    groups = [name for name, field in Settings.model_fields.items()
              if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)]
    text = ARCHITECTURE.read_text()
    assert not [g for g in groups if f"`{g}`" not in text], "docs/architecture.md's settings groups are incomplete"


def test_the_package_lists_are_complete() -> None:
    """The lists above are the project's: every top-level directory with an ``__init__.py`` is one of them."""
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert on_disk == set(top_level_packages())
    assert {"maintenance", "inventory", "logistics", "events"} <= set(millstream_subpackages())


_SEGMENT = r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_]+)*"


@cache
def _path_token() -> re.Pattern[str]:
    roots = "|".join(top_level_packages())
    # Not preceded by a path or URL character (so ``/api/v1/``, ``http://host/api/...`` and ``../x`` are not
    # taken); the literal part stops at a placeholder (``<page>``, ``{id}``, ``*``), handled by the caller.
    return re.compile(rf"(?<![\w./:@-])(?:{roots})/(?:{_SEGMENT}/)*(?:{_SEGMENT}|\{{[\w,]+\}}/?)?")


def _expand(token: str) -> list[str]:
    """``connectors/{kafka,erp}/`` -> both paths; a placeholder part (``<page>``, ``{id}``) ends the path."""
    m = re.search(r"\{([\w,]+)\}", token)
    if m and "," in m.group(1):
        return [token[: m.start()] + part + token[m.end():] for part in m.group(1).split(",")]
    return [token]


def written_paths(text: str) -> set[str]:
    """Paths in the project's packages written in ``text``, such as ``streams/alerting.py`` or ``tests/helpers/``."""
    paths = set()
    for match in _path_token().finditer(text):
        token = match.group(0)
        following = text[match.end(): match.end() + 1]
        if following in {"<", "{", "*"}:  # a pattern such as api/static/pages/<page>.js: check its folder
            token = token[: token.rfind("/") + 1]
        for path in _expand(token):
            if "{" in path:  # a placeholder, not a brace list
                path = path[: path.find("{")]
                path = path[: path.rfind("/") + 1]
            paths.add(path)
    return paths


_DOTTED = re.compile(r"^[a-z_][a-z0-9_]*(?:\.[A-Za-z_]\w*)+$")


def written_modules(text: str) -> set[str]:
    """Dotted names of the project's modules: whole backticked spans (``api.app.create_app(settings)``),
    Sphinx roles (``:mod:`connectors.erp.outbox```) and ``python -m pkg.module``."""
    spans = re.findall(r"(?<!`)`([^`\n]+)`(?!`)", text)
    spans += re.findall(r":(?:mod|func|class|meth|data|attr|obj):`~?([^`\n]+)`", text)
    spans += re.findall(r"-m\s+([\w.]+)", text)
    found = set()
    for span in spans:
        name = span.split("(", 1)[0].strip()
        if _DOTTED.match(name) and name.split(".", 1)[0] in top_level_packages():
            found.add(name)
    return found


def _module_file(dotted: str) -> Path | None:
    base = ROOT.joinpath(*dotted.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _defines(module: Path, name: str) -> bool:
    tree = ast.parse(module.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return True
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        if isinstance(node, ast.Import | ast.ImportFrom):
            if any((alias.asname or alias.name.split(".")[0]) == name for alias in node.names):
                return True
    return (module.parent / name).is_dir() or (module.parent / f"{name}.py").is_file()


def missing_module(dotted: str) -> str | None:
    """Why ``dotted`` (a module, or a module and an attribute of it) is not in the tree, or None."""
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        module = _module_file(".".join(parts[:n]))
        if module is None:
            continue
        if n == len(parts):
            return None
        if _defines(module, parts[n]):
            return None
        return f"{'.'.join(parts[:n])} has no {parts[n]}"
    return "no such module"


@cache
def project_path_tails() -> frozenset[str]:
    """Every module and folder of the project's packages by each tail of its path (``engine.py``,
    ``logistics/engine.py``, ``events/``, ``up/services.py``, ...), and the repository's top-level folders."""
    tails = {f"{path.name}/" for path in ROOT.iterdir() if path.is_dir()}
    for package in top_level_packages():
        for path in (ROOT / package).rglob("*"):
            if "__pycache__" in path.parts or "node_modules" in path.parts:
                continue
            if not (path.is_dir() or path.suffix == ".py"):
                continue
            parts = path.relative_to(ROOT).parts
            suffix = "/" if path.is_dir() else ""
            tails.update("/".join(parts[i:]) + suffix for i in range(1, len(parts)))
    return frozenset(tails)


def loose_names(text: str) -> set[str]:
    """Backticked module or folder paths that do not start at a package (``fences.py``, ``events/``,
    ``up/services.py``), as tables of a package's modules write them."""
    spans = re.findall(r"(?<!`)`([A-Za-z_]\w*(?:/\w+)*(?:\.py|/))`", text)
    return {span for span in spans if span.split("/", 1)[0] not in top_level_packages()}


def test_path_finder_sees_what_a_doc_writes() -> None:
    text = (
        "see `streams/alerting.py`, connectors/{kafka,erp}/ and api/static/pages/<page>.js. "
        "GET /api/v1/alerts, http://host/streams/x.py, `api.app.create_app(settings)`, :mod:`models.scoring`,"
        " python -m bench.databases, `alerts`, `telemetry.readings`, `tests/helpers/`."
    )
    assert written_paths(text) == {
        "streams/alerting.py", "connectors/kafka/", "connectors/erp/", "api/static/pages/", "tests/helpers/",
    }
    assert written_modules(text) == {"api.app.create_app", "models.scoring", "bench.databases"}
    assert missing_module("api.app.create_app") is None
    assert missing_module("millstream.events.SensorReading") is None  # re-exported by the package
    assert missing_module("streams.alerting.no_such_thing") == "streams.alerting has no no_such_thing"
    assert missing_module("geo.engine") == "no such module"
    assert loose_names("`fences.py`, `geo/`, `geo/engine.py`, `api/`, `a.py b`") == {
        "fences.py", "geo/", "geo/engine.py"}
    tails = project_path_tails()
    assert {"fences.py", "logistics/engine.py", "events/", "docs/"} <= tails
    assert not {"geo/", "geo/engine.py"} & tails


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_path_in_the_docs_exists(page: Path) -> None:
    text = page.read_text()
    stale = sorted(path for path in written_paths(text) if not (ROOT / path).exists())
    stale += sorted(f"{name} ({why})" for name in written_modules(text) if (why := missing_module(name)))
    stale += sorted(f"{name} (in no package)" for name in loose_names(text) - project_path_tails())
    assert not stale, f"{page.relative_to(ROOT)} names what is not in the tree: {stale}"
