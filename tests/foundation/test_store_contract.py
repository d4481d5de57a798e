"""The store contract, written once and run against SQLite and real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from db_infrastructure.base import Store
from db_infrastructure.migrate import load_migrations
from db_infrastructure.postgres import PostgresStore
from db_infrastructure.sqlite import SQLiteStore


async def test_put_then_get(store: Store) -> None:
    await store.put("ns", "k", "v1")
    assert await store.get("ns", "k") == "v1"
    await store.put("ns", "k", "v2")
    assert await store.get("ns", "k") == "v2"
    assert await store.get("other", "k") is None


async def test_values_with_ttl_expire(store: Store) -> None:
    await store.put("ns", "short", "x", ttl_s=0.2)
    await store.put("ns", "long", "y", ttl_s=60)
    assert await store.get("ns", "short") == "x"
    await asyncio.sleep(0.3)
    assert await store.get("ns", "short") is None
    assert await store.items("ns") == {"long": "y"}


async def test_take_is_single_use(store: Store) -> None:
    await store.put("oauth_state", "abc", "1", ttl_s=600)
    assert await store.take("oauth_state", "abc") == "1"
    assert await store.take("oauth_state", "abc") is None


async def test_take_of_expired_value_returns_nothing(store: Store) -> None:
    await store.put("oauth_state", "old", "1", ttl_s=0.1)
    await asyncio.sleep(0.2)
    assert await store.take("oauth_state", "old") is None


async def test_concurrent_takes_give_the_value_once(store: Store) -> None:
    await store.put("oauth_state", "race", "1", ttl_s=600)
    results = await asyncio.gather(*(store.take("oauth_state", "race") for _ in range(10)))
    assert results.count("1") == 1


async def test_delete_and_items(store: Store) -> None:
    await store.put("ns", "a", "1")
    await store.put("ns", "b", "2")
    assert await store.delete("ns", "a") is True
    assert await store.delete("ns", "a") is False
    assert await store.items("ns") == {"b": "2"}


async def test_migrations_are_recorded(store: Store) -> None:
    assert await store.schema_version() == max(m.version for m in load_migrations())


async def test_sqlite_data_survives_reopen(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "db.sqlite")
    await first.connect()
    await first.put("ns", "k", "kept")
    await first.close()
    second = SQLiteStore(tmp_path / "db.sqlite")
    await second.connect()
    try:
        assert await second.get("ns", "k") == "kept"
        assert await second.schema_version() == 1
    finally:
        await second.close()


async def test_sqlite_concurrent_startups_apply_migrations_once(tmp_path: Path) -> None:
    stores = [SQLiteStore(tmp_path / "db.sqlite") for _ in range(4)]
    try:
        await asyncio.gather(*(s.connect() for s in stores))
        rows = await stores[0].db.execute_fetchall("SELECT version FROM schema_version")
        assert [r[0] for r in rows] == [m.version for m in load_migrations()]
    finally:
        for s in stores:
            await s.close()


async def test_postgres_concurrent_startups_apply_migrations_once(
    postgres_dsn_and_schema: tuple[str, str],
) -> None:
    dsn, schema = postgres_dsn_and_schema
    stores = [PostgresStore(dsn, schema=schema) for _ in range(4)]
    try:
        await asyncio.gather(*(s.connect() for s in stores))
        rows = await stores[0].pool.fetch("SELECT version FROM schema_version")
        assert [r["version"] for r in rows] == [m.version for m in load_migrations()]
    finally:
        for s in stores:
            await s.close()
