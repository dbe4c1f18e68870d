"""Configuration stays documented and safe by default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pricing_platform.core.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def test_every_setting_is_documented_in_env_example() -> None:
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - documented == set(), "settings missing from .env.example"
    assert documented - fields == set(), ".env.example names variables the settings do not read"


def test_env_example_values_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    text = ENV_EXAMPLE.read_text()
    for name, value in re.findall(r"^([A-Z][A-Z0-9_]+)=(.*)$", text, re.MULTILINE):
        monkeypatch.setenv(name, value)
    from_example = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in re.findall(r"^([A-Z][A-Z0-9_]+)=", text, re.MULTILINE):
        field = name.lower()
        assert getattr(from_example, field) == Settings.model_fields[field].default, name


def test_local_defaults_bind_to_loopback_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.local_bind_host == "127.0.0.1"
    assert settings.kafka_bootstrap_servers.startswith("127.0.0.1:")
    assert settings.database_url.hosts()[0]["host"] == "127.0.0.1"
    assert settings.database_url.hosts()[0]["password"] is None
    assert settings.kafka_sasl_password is None


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app:s3cret@db.internal:5432/pricing")
    monkeypatch.setenv("INGEST_BATCH_SIZE", "500")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.ingest_batch_size == 500
    assert settings.database_url.hosts()[0]["host"] == "db.internal"


def test_the_local_stack_never_prints_a_database_password() -> None:
    from pricing_platform.localstack.stack import _without_password, endpoints

    assert (
        _without_password("postgresql://app:s3cret@db:5432/pricing") == "postgresql://app:***@db:5432/pricing"
    )
    assert _without_password("postgresql://app@db:5432/pricing") == "postgresql://app@db:5432/pricing"
    shown = endpoints(Settings(database_url="postgresql://app:s3cret@db:5432/pricing", _env_file=None))  # type: ignore[call-arg]
    assert not [e for e in shown if "s3cret" in str(e)]


def test_dashboard_urls_must_name_the_roles_the_migrations_grant() -> None:
    with pytest.raises(ValueError, match="must connect as 'pricing_dashboard'") as raised:
        Settings(dashboard_database_url="postgresql://bob:s3cret@db:5432/pricing", _env_file=None)  # type: ignore[call-arg]
    assert "s3cret" not in str(raised.value), "validation errors never echo a URL with its password"
    settings = Settings(database_url="postgresql://pricing:owner@db:5432/pricing", _env_file=None)  # type: ignore[call-arg]
    assert (
        "owner" not in settings.dashboard_conninfo and "user=pricing_dashboard" in settings.dashboard_conninfo
    )
