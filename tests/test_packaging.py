"""The package installs: a wheel built from the tree runs on its own, and the image gets every package.

The wheel test builds a wheel from a copy of the tree's tracked files (as a clean checkout would), installs it
with ``--no-deps`` into a fresh virtual environment (no system site-packages, not the project's ``.venv``)
and gives that environment exactly the distributions the wheel's ``Requires-Dist`` needs, transitively: a
directory of links to those distributions' files in ``.venv`` (from their RECORD), never the project's own
editable install, so an import the wheel does not declare fails as it would after ``pip install millstream``.
Nothing is downloaded (no index, no build isolation). Then, with the working directory outside the tree:
every module imports and comes from the wheel, ``millstream --help`` and ``millstream api openapi`` work, and
the data files (migrations, the UI) are in the wheel.

The image checks read the Dockerfile, the .dockerignore and docker-compose.yml (no Docker engine here).
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata as metadata
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import typer
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.helpers.paths import DEMO, ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: The top-level packages the wheel ships: ``[tool.setuptools.packages.find] include`` without its globs.
PACKAGES = sorted({pattern.rstrip("*").rstrip(".") for pattern in
                   PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]})
#: Extras that are for working on the project, not for running it.
DEV_EXTRAS = {"dev"}
#: Modules scripts only: importing them runs them.
SCRIPT_MODULES = {"__main__"}


def _log(message: str, started: float) -> None:
    print(f"[packaging +{time.monotonic() - started:5.1f}s] {message}", flush=True)


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    return [name for name in out.decode().split("\0") if name and (ROOT / name).exists()]


def _untracked_sources() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--others", "--exclude-standard", "--", *PACKAGES], cwd=ROOT,
                         check=True, capture_output=True).stdout
    return [name for name in out.decode().split("\0") if name.endswith(".py")]


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _checked(result: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def _requirement_applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras | {""})


def _closure(requirements: list[Requirement]) -> tuple[dict[str, metadata.Distribution], list[str]]:
    """The installed distributions these requirements need, transitively, and what is missing or too old."""
    found: dict[str, metadata.Distribution] = {}
    extras_seen: dict[str, set[str]] = {}
    problems: list[str] = []
    queue = [(requirement, "millstream") for requirement in requirements]
    while queue:
        requirement, wanted_by = queue.pop()
        name = canonicalize_name(requirement.name)
        if name == "millstream":  # an extra of its own (millstream[embedded]): the wheel is installed already
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{requirement} (needed by {wanted_by}) is not installed in .venv: run `make install`")
            continue
        if not requirement.specifier.contains(Version(dist.version), prereleases=True):
            problems.append(f"{requirement} (needed by {wanted_by}): .venv has {dist.version}")
        new_extras = set(requirement.extras) - extras_seen.get(name, set())
        if name in found and not new_extras:
            continue
        extras_seen.setdefault(name, set()).update(requirement.extras)
        found[name] = dist
        for text in dist.requires or []:
            sub = Requirement(text)
            if _requirement_applies(sub, extras_seen[name]):
                queue.append((sub, f"{dist.metadata['Name']}[{','.join(sorted(extras_seen[name]))}]"))
    return found, problems


def _link_distributions(dists: dict[str, metadata.Distribution], target: Path) -> None:
    """Link each distribution's top-level files (from its RECORD) into ``target``."""
    target.mkdir()
    for dist in dists.values():
        files = dist.files
        assert files is not None, f"{dist.metadata['Name']} has no RECORD: cannot tell its files"
        for file in files:
            top = file.parts[0]
            if top in ("..", "__pycache__") or top.startswith("__editable__"):
                continue
            link = target / top
            if not link.exists():
                link.symlink_to(Path(str(dist.locate_file(top))))


@dataclass(frozen=True)
class Installed:
    """A fresh environment with the wheel installed and only its declared dependencies beside it."""

    tree: Path  # the copy of the tracked files the wheel was built from
    wheel: Path
    venv: Path
    site_packages: Path
    deps: Path
    run_dir: Path  # an empty working directory, outside the tree
    env: dict[str, str]
    requirements: list[Requirement]
    extras: dict[str, list[Requirement]]
    started: float

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return _run([str(arg) for arg in args], cwd=self.run_dir, env=self.env, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    started = time.monotonic()
    import setuptools

    assert Version(setuptools.__version__) >= Version("77"), (
        f".venv has setuptools {setuptools.__version__}; the wheel build (no build isolation, no network) needs "
        ">=77, which the dev extras require: run `make install`")
    base = tmp_path_factory.mktemp("packaging")
    tree, dist_dir, venv, deps, run_dir = (base / name for name in ("tree", "dist", "venv", "deps", "run"))
    files = _tracked_files()
    for name in files:
        source, copy = ROOT / name, tree / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy, follow_symlinks=False)
    _log(f"copied {len(files)} tracked files to {tree}", started)

    pip_env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1"}
    _checked(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist_dir),
                   "."], cwd=tree, env=pip_env), "pip wheel")
    (wheel,) = dist_dir.glob("millstream-*.whl")
    _log(f"built {wheel.name} ({wheel.stat().st_size // 1024} KiB)", started)

    _checked(_run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=base), "python -m venv")
    python = venv / "bin" / "python"
    _checked(_run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", str(wheel)],
                  cwd=base, env=pip_env), "pip install the wheel")
    site_packages = Path(_checked(_run([str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_path("
                                        "'purelib'))"], cwd=base), "sysconfig").stdout.strip())
    (dist_info,) = site_packages.glob("millstream-*.dist-info")
    wheel_metadata = metadata.Distribution.at(dist_info)
    declared = [Requirement(text) for text in wheel_metadata.requires or []]
    requirements = [r for r in declared if _requirement_applies(r, set())]
    extras = {extra: [r for r in declared if r.marker is not None and r.marker.evaluate({"extra": extra})]
              for extra in wheel_metadata.metadata.get_all("Provides-Extra") or []}
    dists, problems = _closure(requirements)
    assert not problems, "the wheel's dependencies are not all in .venv:\n" + "\n".join(problems)
    _link_distributions(dists, deps)
    # addsitedir: the dependencies' own .pth files work as after a real install; .venv's are not read
    (site_packages / "_millstream_test_dependencies.pth").write_text(f"import site; site.addsitedir({str(deps)!r})\n")
    _log(f"venv {venv} with the wheel and its {len(dists)} dependency distributions", started)

    run_dir.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTHON", "MILLSTREAM_", "VIRTUAL_ENV", "PIP_"))}
    env |= {"PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", "VIRTUAL_ENV": str(venv),
            "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "HOME": str(base / "home")}
    yield Installed(tree=tree, wheel=wheel, venv=venv, site_packages=site_packages, deps=deps, run_dir=run_dir,
                    env=env, requirements=requirements, extras=extras, started=started)


IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys, traceback
failed = {{}}
def record(name):
    failed[name] = traceback.format_exc(limit=-4)
for top in sys.argv[1:]:
    try:
        package = importlib.import_module(top)
    except Exception:
        record(top)
        continue
    for info in pkgutil.walk_packages(package.__path__, top + ".", onerror=record):
        if info.name.rpartition(".")[2] in {script_modules!r}:
            continue
        try:
            importlib.import_module(info.name)
        except Exception:
            record(info.name)
files = {{name: getattr(module, "__file__", None) for name, module in sys.modules.items()}}
print(json.dumps({{"failed": failed, "files": files, "path": sys.path}}))
"""


@pytest.mark.subprocess
def test_every_module_imports_from_the_wheel(installed: Installed) -> None:
    result = _checked(installed.run(installed.python, "-I", "-c",
                                    IMPORT_EVERYTHING.format(script_modules=SCRIPT_MODULES), *PACKAGES,
                                    timeout=180), "importing every module")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    _log(f"imported {len(report['files'])} modules", installed.started)
    untracked = _untracked_sources()
    hint = f"\n(untracked, so not in the wheel: {untracked})" if untracked else ""
    assert not report["failed"], "modules that do not import from the wheel with only its declared dependencies:\n" \
        + "\n".join(f"--- {name}\n{trace}" for name, trace in report["failed"].items()) + hint
    ours = {name: file for name, file in report["files"].items() if name.split(".")[0] in PACKAGES}
    expected = {path.relative_to(installed.tree).with_suffix("").as_posix().replace("/", ".").removesuffix(
        ".__init__") for path in installed.tree.glob("*/**/*.py") if path.parts[len(installed.tree.parts)] in PACKAGES}
    expected = {name for name in expected if name.rpartition(".")[2] not in SCRIPT_MODULES}
    assert not expected - set(ours), f"modules in the tree that were not imported: {sorted(expected - set(ours))}"
    site = f"{installed.site_packages}/"
    outside = {name: file for name, file in ours.items() if not file or not file.startswith(site)}
    assert not outside, f"project modules not loaded from the wheel's files in {installed.site_packages}: {outside}"
    from_tree = {name: file for name, file in report["files"].items() if file and file.startswith(f"{ROOT}/")}
    assert not from_tree, f"modules loaded from the source tree: {from_tree}"
    assert not [entry for entry in report["path"] if entry.startswith(str(ROOT))], report["path"]


def _declared(requirements: list[Requirement]) -> set[str]:
    """The distributions these requirements name, and those their extras add (``psycopg[pool]``: psycopg-pool)."""
    names: set[str] = set()
    for requirement in requirements:
        names.add(canonicalize_name(requirement.name))
        for text in metadata.distribution(requirement.name).requires or [] if requirement.extras else []:
            sub = Requirement(text)
            if sub.marker is not None and _requirement_applies(sub, set(requirement.extras)) \
                    and not _requirement_applies(sub, set()):
                names.add(canonicalize_name(sub.name))
    return names


class _ImportScan(ast.NodeVisitor):
    """Third-party imports of one module, each as (top-level name, kind): module-level, lazy (inside a function)
    or optional (guarded by ``except ImportError``, or under ``if TYPE_CHECKING``)."""

    def __init__(self) -> None:
        self.imports: list[tuple[str, str, int]] = []
        self._function = 0
        self._optional = 0

    def _add(self, module: str, line: int) -> None:
        kind = "optional" if self._optional else "lazy" if self._function else "module-level"
        self.imports.append((module.split(".")[0], kind, line))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._add(node.module, node.lineno)

    def _in_function(self, node: ast.AST) -> None:
        self._function += 1
        self.generic_visit(node)
        self._function -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _in_function

    def visit_Try(self, node: ast.Try) -> None:
        guarded = any(handler.type is not None and {"ImportError", "ModuleNotFoundError"} & {
            getattr(name, "id", None) for name in ([handler.type] if not isinstance(handler.type, ast.Tuple)
                                                    else handler.type.elts)} for handler in node.handlers)
        self._optional += guarded
        for statement in node.body:
            self.visit(statement)
        self._optional -= guarded
        for handler in node.handlers:
            self.visit(handler)
        for statement in [*node.orelse, *node.finalbody]:
            self.visit(statement)

    def visit_If(self, node: ast.If) -> None:
        type_checking = "TYPE_CHECKING" in ast.unparse(node.test)
        self._optional += type_checking
        for statement in node.body:
            self.visit(statement)
        self._optional -= type_checking
        for statement in node.orelse:
            self.visit(statement)


@pytest.mark.subprocess
def test_declared_dependencies_cover_the_imports(installed: Installed) -> None:
    """Each third-party module the wheel's code imports belongs to a distribution it declares: at module level
    a dependency, lazily (inside a function) a dependency or a non-dev extra's. Not just through another
    dependency: what a dependency depends on can change. Then ``pip check`` in the fresh environment."""
    owners = metadata.packages_distributions()
    base = _declared(installed.requirements)
    extra = _declared([r for name, reqs in installed.extras.items() if name not in DEV_EXTRAS for r in reqs])
    stdlib = sys.stdlib_module_names
    undeclared: list[str] = []
    optional: set[str] = set()
    for path in sorted(installed.site_packages.glob("*/**/*.py")):
        relative = path.relative_to(installed.site_packages)
        if relative.parts[0] not in PACKAGES:
            continue
        scan = _ImportScan()
        scan.visit(ast.parse(path.read_text(), str(path)))
        for top, kind, line in scan.imports:
            if top in stdlib or top in PACKAGES or top == "__future__":
                continue
            if kind == "optional":
                optional.add(top)
                continue
            dists = {canonicalize_name(name) for name in owners.get(top, [])}
            allowed = base if kind == "module-level" else base | extra
            if not dists & allowed:
                undeclared.append(f"{relative}:{line}: {kind} import of {top!r} (distribution "
                                  f"{sorted(dists) or 'none installed'}) is not in [project] dependencies"
                                  + ("" if kind == "module-level" else " nor a non-dev extra"))
    _log(f"scanned the wheel's imports (optional, not required: {sorted(optional)})", installed.started)
    assert not undeclared, "\n".join(undeclared)
    _checked(installed.run(sys.executable, "-m", "pip", "--python", installed.python, "check"), "pip check")


@pytest.mark.subprocess
def test_the_wheel_holds_every_package_and_data_file(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    tree = [name for name in _tracked_files() if name.split("/")[0] in PACKAGES]
    wanted = [name for name in tree if name.endswith(".py") or name == "millstream/py.typed"
              or fnmatch.fnmatch(name, "connectors/postgres/migrations/*.sql") or name.startswith("api/static/")]
    assert any(name.startswith("api/static/") for name in wanted) and any(name.endswith(".sql") for name in wanted)
    missing = sorted(set(wanted) - names)
    assert not missing, f"in the tree but not in the wheel (a package without __init__.py, package-data): {missing}"
    entry_points = zipfile.ZipFile(installed.wheel).read(next(n for n in names if n.endswith("entry_points.txt")))
    assert "millstream = cli.main:run" in entry_points.decode()


@pytest.mark.subprocess
def test_the_command_line_runs_from_the_wheel(installed: Installed) -> None:
    millstream = installed.venv / "bin" / "millstream"
    help_text = _checked(installed.run(millstream, "--help"), "millstream --help").stdout
    for command in ("up", "api", "db", "ingest", "dispatch", "bridge", "simulate"):
        assert re.search(rf"^\W*{command}\s", help_text, re.MULTILINE), f"`--help` lacks {command}:\n{help_text}"
    _checked(installed.run(installed.python, "-m", "cli", "api", "--help"), "python -m cli api --help")
    document = json.loads(_checked(installed.run(millstream, "api", "openapi"), "millstream api openapi").stdout)
    assert document["openapi"].startswith("3.") and len(document["paths"]) > 10, sorted(document)
    assert any(path.startswith("/api/v1/") for path in document["paths"])
    _log(f"millstream --help, api openapi ({len(document['paths'])} paths)", installed.started)

    # Without the embedded extra, `millstream up` (the demo) says what to install instead of failing later.
    assert not (installed.deps / "pgserver").exists(), "pgserver is a base dependency now: update this test"
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    result = installed.run(millstream, "up", "--scenario", DEMO, "--port", ports[0], "--plant-port", ports[1],
                           "--data-dir", installed.run_dir / "data")
    assert result.returncode != 0
    assert "millstream[embedded]" in result.stdout + result.stderr, result.stdout + result.stderr
    _log("millstream up without the embedded extra: asks for millstream[embedded]", installed.started)


# --- the image ---------------------------------------------------------------------------------------------

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"


@dataclass
class Stage:
    name: str | None
    workdir: str = "/"
    context_copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources, destination)
    stage_copies: list[str] = field(default_factory=list)  # the stages it copies from (COPY --from)
    runs: list[str] = field(default_factory=list)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def _arguments(rest: str) -> list[str]:
    return json.loads(rest) if rest.startswith("[") else shlex.split(rest)


@cache
def _stages() -> list[Stage]:
    stages: list[Stage] = []
    for keyword, rest in _instructions(DOCKERFILE.read_text()):
        if keyword == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.IGNORECASE)
            assert match, rest
            stages.append(Stage(match[2]))
            continue
        stage = stages[-1]
        if keyword == "WORKDIR":
            stage.workdir = str(PurePosixPath(stage.workdir, rest))
        elif keyword in ("COPY", "ADD"):
            args = _arguments(rest)
            flags = dict(arg[2:].partition("=")[::2] for arg in args if arg.startswith("--"))
            paths = [arg for arg in args if not arg.startswith("--")]
            if "from" in flags:
                stage.stage_copies.append(flags["from"])
            else:
                destination = str(PurePosixPath(stage.workdir, paths[-1]))
                stage.context_copies.append((paths[:-1], destination))
        elif keyword == "RUN":
            stage.runs.append(rest)
        elif keyword == "ENTRYPOINT":
            stage.entrypoint = _arguments(rest)
        elif keyword == "CMD":
            stage.cmd = _arguments(rest)
    return stages


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go's filepath.Match plus ``**``) as a regular expression."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1:end]
            out, i = out + "[" + ("^" + body[1:] if body.startswith("^") else body) + "]", end + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out, i = out + re.escape(pattern[i + 1]), i + 2
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


@cache
def _ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        rules.append((negated, _pattern_regex(pattern)))
    return rules


def dockerignored(path: str) -> bool:
    """Whether Docker leaves ``path`` (relative to the context) out: the last matching rule wins, and a rule
    that matches a directory covers what is in it."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for negated, regex in _ignore_rules():
        if any(regex.fullmatch(candidate) for candidate in candidates):
            ignored = not negated
    return ignored


def _copied_from_context(path: str, stage: Stage) -> bool:
    for sources, _ in stage.context_copies:
        for source in sources:
            source = os.path.normpath(source).lstrip("/")
            if source == "." or path == source or path.startswith(source + "/") or fnmatch.fnmatch(path, source):
                return True
    return False


def test_dockerignore_matches_like_docker() -> None:
    cases = {("**/__pycache__", "a/b/__pycache__/x.pyc"): True, ("**/__pycache__", "__pycache__"): True,
             ("*.egg-info", "millstream.egg-info/PKG-INFO"): True, ("*.egg-info", "a/b.egg-info"): False,
             (".venv", ".venv/lib/x.py"): True, ("tests", "tests/data/x"): True, ("tests", "api/tests"): False}
    for (pattern, path), expected in cases.items():
        regex = _pattern_regex(pattern)
        parts = PurePosixPath(path).parts
        assert any(regex.fullmatch("/".join(parts[:n])) for n in range(1, len(parts) + 1)) is expected, (pattern,
                                                                                                          path)


def test_the_image_build_gets_every_package() -> None:
    """Every file the wheel is built from is sent to the build and copied into the stage that builds it; the
    final stage installs the wheel (so every package is in the image) and has the scenarios in its workdir."""
    stages = _stages()
    builders = [stage for stage in stages if any(re.search(r"\bpip (wheel|install)\b.*\s\.(\s|$)", run)
                                                 for run in stage.runs)]
    assert builders, "no stage builds the project (`pip wheel ... .` or `pip install ... .`)"
    builder, final = builders[0], stages[-1]
    tracked = _tracked_files()
    needed = [name for name in tracked if name.split("/")[0] in PACKAGES] + ["pyproject.toml", "README.md"]
    assert {name.split("/")[0] for name in needed} >= set(PACKAGES)
    ignored = [name for name in needed if dockerignored(name)]
    assert not ignored, f".dockerignore leaves out files the wheel is built from: {ignored}"
    not_copied = [name for name in needed if not _copied_from_context(name, builder)]
    assert not not_copied, f"the build stage does not COPY: {not_copied}"
    if final is not builder:
        assert builder.name in final.stage_copies, "the final stage takes nothing from the build stage"
        assert any(re.search(r"\bpip install\b.*\.whl", run) for run in final.runs), final.runs

    scenarios = [name for name in tracked if name.startswith("scenarios/")]
    assert "scenarios/demo.yaml" in scenarios
    assert not [name for name in scenarios if dockerignored(name)], ".dockerignore leaves out the scenarios"
    assert any(destination in (final.workdir, f"{final.workdir}/scenarios") and
               any(s in (".", "scenarios", "scenarios/") for s in sources)
               for sources, destination in final.context_copies), \
        f"the final stage has no scenarios/ in its workdir {final.workdir} (millstream up's default scenario)"


def test_the_build_context_leaves_out_local_state() -> None:
    for path in (".git/HEAD", ".venv/bin/python", ".cache/kafka/x", ".millstream/postgres/x", ".env",
                 "millstream/__pycache__/x.pyc", "tests/data/x", "millstream.egg-info/PKG-INFO", "pki/own/key.pem"):
        assert dockerignored(path), f".dockerignore sends {path}"


def _leaf(group: Any, args: list[str]) -> tuple[Any, list[str], list[str]]:
    """The (Click) command ``args`` select, the words of the path to it, and the arguments left for it."""
    command, path = group, list[str]()
    while hasattr(command, "commands") and args and not args[0].startswith("-"):
        sub = command.commands.get(args[0])
        assert sub is not None, f"`millstream {' '.join([*path, args[0]])}`: no such command"
        command, path, args = sub, [*path, args[0]], args[1:]
    return command, path, args


def _service_commands() -> dict[str, list[list[str]]]:
    """Each Millstream service of docker-compose.yml and the ``millstream`` command lines it runs."""
    compose = yaml.safe_load(COMPOSE.read_text())
    final = _stages()[-1]
    out: dict[str, list[list[str]]] = {}
    for name, service in compose["services"].items():
        if "build" not in service:
            continue
        entrypoint = service.get("entrypoint", final.entrypoint)
        command = service.get("command", final.cmd if "entrypoint" not in service else [])
        argv = [*(shlex.split(entrypoint) if isinstance(entrypoint, str) else entrypoint), *(command or [])]
        if argv[:2] == ["sh", "-c"]:
            lines = [shlex.split(part) for part in re.split(r"&&|\|\||;", argv[2])]
        else:
            lines = [argv]
        out[name] = lines
    return out


def test_the_compose_services_run_existing_commands() -> None:
    from cli.main import app

    root = typer.main.get_command(app)
    services = _service_commands()
    assert {"init", "ingest", "dispatcher", "api", "opcua-bridge"} <= set(services), services
    for name, lines in services.items():
        for argv in lines:
            assert argv[0] == "millstream", f"service {name} runs {argv[0]!r}, not the installed `millstream`"
            command, path, rest = _leaf(root, argv[1:])
            assert path and not hasattr(command, "commands"), f"service {name}: `{shlex.join(argv)}` runs no command"
            options = {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}
            unknown = [arg.split("=")[0] for arg in rest if arg.startswith("-") and arg.split("=")[0] not in options]
            assert not unknown, f"service {name}: `millstream {' '.join(path)}` has no option {unknown}"
