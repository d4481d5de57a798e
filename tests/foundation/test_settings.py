"""Settings: read once, validated, and an invalid value is one line naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import Settings, load_settings, redact_url


def test_defaults_need_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.twitch_redirect_uri == "http://localhost:8000/tokens/callback"
    assert settings.twitch_auth_url == "https://id.twitch.tv/oauth2"
    assert settings.twitch_api_url == "https://api.twitch.tv/helix"
    assert settings.twitch_eventsub_ws_url == "wss://eventsub.wss.twitch.tv/ws"
    assert settings.redis_dsn is None
    assert settings.postgres_dsn is None
    assert str(settings.sqlite_path).endswith("data/streamcore.db")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REDIS_URL", "http://localhost:6379"),
        ("DATABASE_URL", "mysql://root@localhost/db"),
        ("TWITCH_API_URL", "api.twitch.tv"),
        ("TWITCH_EVENTSUB_WS_URL", "https://eventsub.wss.twitch.tv/ws"),
        ("TOKEN_ENCRYPTION_KEY", "not-a-fernet-key"),
        ("STREAMCORE_PORT", "eighty"),
    ],
)
def test_invalid_setting_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"Invalid setting {variable}:")
    if variable in ("DATABASE_URL", "TOKEN_ENCRYPTION_KEY"):
        assert value not in message  # secrets are never echoed


def test_postgres_parts_build_a_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for name, value in {
        "POSTGRES_HOST": "db",
        "POSTGRES_PORT": "5433",
        "POSTGRES_USER": "sc",
        "POSTGRES_PASSWORD": "p@ss word",
        "POSTGRES_DB": "streamcore",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(_env_file=None)
    assert settings.postgres_dsn == "postgresql://sc:p%40ss%20word@db:5433/streamcore"


def test_env_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWITCH_CLIENT_ID", raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("TWITCH_CLIENT_ID=from-dotenv\n")
    assert load_settings(_env_file=env_file).twitch_client_id == "from-dotenv"


def test_redact_url_hides_the_password() -> None:
    assert redact_url("redis://:hunter2@host:6379/0") == "redis://:***@host:6379/0"
    assert redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert redact_url("redis://host:6379") == "redis://host:6379"


def test_env_example_lists_every_setting_and_loads_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    text = example.read_text()
    for name in Settings.model_fields:
        assert f"\n{name.upper()}=" in text, f"{name.upper()} is missing from .env.example"
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    settings = load_settings(_env_file=example)
    assert settings.redis_dsn is None and settings.postgres_dsn is None
    assert settings.streamcore_admin_token is None


def test_webhook_conduit_shards_need_the_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWITCH_EVENTSUB_TRANSPORT", "conduit")
    monkeypatch.setenv("TWITCH_CLIENT_SECRET", "client-secret")
    monkeypatch.setenv("TWITCH_CONDUIT_SHARD_TRANSPORT", "webhook")
    monkeypatch.delenv("STREAMCORE_PUBLIC_URL", raising=False)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    assert "TWITCH_CONDUIT_SHARD_TRANSPORT=webhook needs STREAMCORE_PUBLIC_URL" in str(caught.value)
    monkeypatch.setenv("STREAMCORE_PUBLIC_URL", "https://streamcore.example.com")
    settings = load_settings(_env_file=None)
    assert settings.webhook_shards and settings.receives_webhooks
