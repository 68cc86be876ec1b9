"""Settings: env prefix, nesting, cached access, and a refusal that names the variable."""

from __future__ import annotations

import pytest

from millstream.errors import SettingsError
from millstream.settings import get_settings, load_settings


def test_nested_env_vars_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILLSTREAM_KAFKA__BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("MILLSTREAM_EVENTS__MAX_FUTURE_SKEW_S", "12")
    monkeypatch.setenv("MILLSTREAM_DATABASE__TIMESCALE", "off")
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "broker:9092"
    assert settings.events.max_future_skew.total_seconds() == 12
    assert settings.database.timescale == "off"


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("MILLSTREAM_KAFKA__REPLICATION_FACTOR", "zero"),
        ("MILLSTREAM_DATABASE__TIMESCALE", "sometimes"),
        ("MILLSTREAM_API__PORT", "70000"),
        ("MILLSTREAM_KAFKA__TOPIC_PREFIX", "bad prefix!"),
    ],
)
def test_wrong_value_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError, match=var):
        load_settings()


def test_get_settings_is_cached_until_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("MILLSTREAM_API__PORT", "8100")
    first = get_settings()
    monkeypatch.setenv("MILLSTREAM_API__PORT", "8200")
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().api.port == 8200
    get_settings.cache_clear()


def test_secrets_are_not_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILLSTREAM_DATABASE__URL", "postgresql://u:hunter2@db/x")
    monkeypatch.setenv("MILLSTREAM_KAFKA__SASL_PASSWORD", "s3cret")
    settings = load_settings()
    assert "hunter2" not in repr(settings)
    assert "s3cret" not in repr(settings)
    assert settings.database.url.get_secret_value().endswith("@db/x")
