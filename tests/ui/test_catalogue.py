"""The message catalogue (api/static/i18n/<lang>/<namespace>.json): both languages have the same keys and
placeholders, Chinese texts are real translations, every key the UI's JS and HTML use exists, and every value
of the domain's enumerations the UI shows has its text."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import pytest

from api.ui import STATIC_DIR
from connectors.erp.models import DeliveryStatus
from connectors.postgres.apikeys import ROLES
from millstream.events.alerts import ALERT_DOMAINS, AlertSeverity, AlertState
from millstream.events.outputs import SubjectKind
from millstream.inventory.rules import NEGATIVE_STOCK_RULE, REORDER_RULE
from millstream.logistics.truck import DELAY, DEVIATION, LONG_DWELL, OFFLINE
from millstream.maintenance.rules import ALERT_TYPE as FAILURE_RISK

I18N = STATIC_DIR / "i18n"
LANGUAGES = ("en", "zh-CN")
PAGES = ("plant", "inventory", "dispatch", "integrations", "scorecard")
_CALL = re.compile(r"""\bt\(\s*(['"`])((?:(?!\1).)+)\1""")
#: A key passed around as a plain string (e.g. a message key given to a function that calls t() later).
_KEY_STRING = re.compile(r"""['"]((?:shell|plant|inventory|dispatch|integrations|scorecard)\.[a-z0-9_.-]+)['"]""")
_ATTR = re.compile(r"""data-i18n(?:-[a-z-]+)?=["']([^"']+)["']""")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_COMMENT = re.compile(r"/\*.*?\*/|<!--.*?-->|^[ \t]*//[^\n]*", re.S | re.M)
_CJK = re.compile(r"[\u4e00-\u9fff]")


def catalogue(lang: str) -> dict[str, dict[str, str]]:
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted((I18N / lang).glob("*.json"))}


def ui_sources() -> list[Path]:
    return [p for p in STATIC_DIR.rglob("*") if p.suffix in (".js", ".html") and "vendor" not in p.parts]


def used_keys() -> tuple[set[str], set[str]]:
    """(literal keys, template keys such as ``shell.page.${p.id}``) used in the UI's JS and HTML."""
    literal, templated = set(), set()
    for path in ui_sources():
        text = _COMMENT.sub("", path.read_text(encoding="utf-8"))
        for quote, key in _CALL.findall(text):
            (templated if quote == "`" and "${" in key else literal).add(key)
        literal.update(_ATTR.findall(text))
        literal.update(_KEY_STRING.findall(text))
    return literal, templated


def test_both_languages_have_the_same_files_keys_and_placeholders() -> None:
    en, zh = catalogue("en"), catalogue("zh-CN")
    assert set(en) == set(zh) == {"shell", *PAGES}
    for namespace, texts in en.items():
        assert set(texts) == set(zh[namespace]), namespace
        for key, text in texts.items():
            assert key.startswith(f"{namespace}."), f"{key} belongs in {key.split('.')[0]}.json"
            assert text.strip() and zh[namespace][key].strip(), key
            assert set(_PLACEHOLDER.findall(text)) == set(_PLACEHOLDER.findall(zh[namespace][key])), key


def test_chinese_texts_are_translations() -> None:
    zh = {k: v for texts in catalogue("zh-CN").values() for k, v in texts.items()}
    en = {k: v for texts in catalogue("en").values() for k, v in texts.items()}
    # names (Millstream, English, URL, mst_...) stay as they are; everything else is written in Chinese
    untranslated = [k for k, v in zh.items() if not _CJK.search(v) and re.search(r"[A-Za-z]", _PLACEHOLDER.sub("", v))]
    assert len(untranslated) <= 8, untranslated
    assert all(zh[k] == en[k] for k in untranslated), [k for k in untranslated if zh[k] != en[k]]


def test_every_key_the_ui_uses_exists() -> None:
    keys = {k for texts in catalogue("en").values() for k in texts}
    literal, templated = used_keys()
    assert len(literal) > 50, "the scan found too few keys: is the pattern still right?"
    assert not sorted(literal - keys), "used but not in the catalogue"
    for template in templated:
        pattern = re.compile(re.sub(r"\\\$\\\{[^}]*\\\}", "[A-Za-z0-9_-]+", re.escape(template)) + "$")
        assert any(pattern.match(k) for k in keys), f"no key matches {template}"


@pytest.mark.parametrize(("prefix", "values"), [
    ("shell.severity", get_args(AlertSeverity)),
    ("shell.domain", ALERT_DOMAINS),
    ("shell.alerts.state", get_args(AlertState)),
    ("shell.role", ROLES),
    ("shell.subject", get_args(SubjectKind)),
    ("shell.page", PAGES),
    ("shell.opcua.state", ("online", "offline", "unknown")),
    ("integrations.status", get_args(DeliveryStatus)),
    # every alert type a pipeline raises: the feed shows the catalogue's text, not the server's English title
    ("shell.alerts.type", (DELAY, DEVIATION, LONG_DWELL, OFFLINE, FAILURE_RISK, REORDER_RULE.alert_type,
                           NEGATIVE_STOCK_RULE.alert_type)),
])
def test_every_value_shown_has_a_text(prefix: str, values: tuple[str, ...]) -> None:
    keys = {k for texts in catalogue("en").values() for k in texts}
    assert {f"{prefix}.{v}" for v in values} <= keys


def test_no_visible_text_is_hard_coded_in_the_html() -> None:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    body = html.split("<body>", 1)[1]
    assert not re.sub(r"<[^>]+>", "", body).strip(), "the page's text comes from the catalogue (app.js)"
