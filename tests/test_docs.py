"""Docs stay true to the code: every setting is in the README's configuration table."""

from __future__ import annotations

from pydantic import BaseModel

from millstream.settings import Settings, env_var_name
from tests.helpers.paths import ROOT

README = ROOT / "README.md"


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
