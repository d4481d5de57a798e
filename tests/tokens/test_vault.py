"""Tokens at rest: encrypted in the store, with a generated key file when no key is set."""

from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet

from core.settings import Settings
from db_infrastructure.postgres import PostgresStore
from db_infrastructure.sqlite import SQLiteStore
from tokens.model import TokenSet
from tokens.vault import KEY_FILE_NAME, TokenVault, load_cipher

ACCESS = "vaultaccesstoken0123456789abcd"
REFRESH = "vaultrefreshtoken0123456789abcdefghijklmnopqrstuv"


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, streamcore_data_dir=tmp_path, **values)  # type: ignore[call-arg]


def test_without_a_key_a_0600_key_file_is_generated_once_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path / "data", token_encryption_key=None)
    with caplog.at_level(logging.INFO, logger="streamcore.tokens"):
        first = load_cipher(settings)
        second = load_cipher(settings)
    key_file = tmp_path / "data" / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert second.decrypt(first.encrypt(b"x")) == b"x"  # the same key both times
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "TOKEN_ENCRYPTION_KEY" in warnings[0].getMessage()
    key = key_file.read_text().strip()
    assert all(key not in r.getMessage() for r in caplog.records)


def test_a_configured_key_is_used_and_no_key_file_is_written(tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    cipher = load_cipher(_settings(tmp_path, token_encryption_key=key))
    assert Fernet(key.encode()).decrypt(cipher.encrypt(b"x")) == b"x"
    assert not (tmp_path / KEY_FILE_NAME).exists()


async def test_a_token_stored_under_another_key_reads_as_no_token(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "streamcore.db")
    await store.connect()
    try:
        token = TokenSet(ACCESS, REFRESH, None, ["bits:read"], "1", "streamer")
        await TokenVault(store, Fernet(Fernet.generate_key())).save(token)
        assert await TokenVault(store, Fernet(Fernet.generate_key())).load() is None
    finally:
        await store.close()


async def test_postgres_row_holds_no_plaintext_token(
    postgres_dsn_and_schema: tuple[str, str],
) -> None:
    dsn, schema = postgres_dsn_and_schema
    store = PostgresStore(dsn, schema=schema)
    await store.connect()
    try:
        vault = TokenVault(store, Fernet(Fernet.generate_key()))
        await vault.save(TokenSet(ACCESS, REFRESH, 1.0, ["bits:read"], "4242", "streamer"))
        assert (await vault.load()) is not None
    finally:
        await store.close()
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(f'SELECT namespace, key, value FROM "{schema}".kv')
    finally:
        await connection.close()
    assert [(r["namespace"], r["key"]) for r in rows] == [("tokens", "user")]
    for row in rows:
        for secret in (ACCESS, REFRESH, "streamer"):
            assert secret not in row["value"]
