"""Shared fixtures: real Redis and PostgreSQL, each test isolated and cleaned up.

Redis tests use database REDIS_TEST_DB (default 15) on 127.0.0.1:6379, flushed before and
after each test. PostgreSQL tests get a fresh schema in database `test`, dropped afterwards.
When a service is unreachable the test skips locally and fails when CI is set, so a green CI
always means the real services were exercised.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from bus import Bus
from bus.memory import MemoryBus
from bus.redis import RedisBus
from db_infrastructure.base import Store
from db_infrastructure.postgres import PostgresStore
from db_infrastructure.sqlite import SQLiteStore

REDIS_TEST_DB = int(os.environ.get("REDIS_TEST_DB", "15"))
REDIS_TEST_URL = f"redis://127.0.0.1:6379/{REDIS_TEST_DB}"
POSTGRES_TEST_DSN = os.environ.get("POSTGRES_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def unavailable(service: str, error: BaseException) -> None:
    """Fail under CI, skip locally, always naming the service and the reason."""
    message = f"{service} is unreachable ({error}); start it (see .ci/run)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def clean_redis_db() -> AsyncIterator[str]:
    """Yield REDIS_TEST_URL with its database flushed before and after."""
    client = aioredis.Redis.from_url(REDIS_TEST_URL)
    try:
        await client.flushdb()
    except Exception as error:  # any failure to reach Redis
        await client.aclose()
        unavailable("Redis at 127.0.0.1:6379", error)
    try:
        yield REDIS_TEST_URL
    finally:
        await client.flushdb()
        await client.aclose()


@asynccontextmanager
async def fresh_postgres_schema() -> AsyncIterator[tuple[str, str]]:
    """Yield (dsn, schema) for a schema that is dropped afterwards."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        connection = await asyncpg.connect(POSTGRES_TEST_DSN, timeout=5)
    except Exception as error:
        unavailable("PostgreSQL at 127.0.0.1:5432", error)
    try:
        yield POSTGRES_TEST_DSN, schema
    finally:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """A clean Redis database for this test."""
    async with clean_redis_db() as url:
        yield url


@pytest.fixture
async def postgres_dsn_and_schema() -> AsyncIterator[tuple[str, str]]:
    """A PostgreSQL DSN and a fresh schema for this test."""
    async with fresh_postgres_schema() as pair:
        yield pair


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    """The bus contract runs against every backend."""
    async with AsyncExitStack() as stack:
        if request.param == "memory":
            backend: Bus = MemoryBus()
        else:
            backend = RedisBus(await stack.enter_async_context(clean_redis_db()))
        await backend.connect()
        stack.push_async_callback(backend.close)
        yield backend


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """The store contract runs against every backend."""
    async with AsyncExitStack() as stack:
        if request.param == "sqlite":
            backend: Store = SQLiteStore(tmp_path / "streamcore.db")
        else:
            dsn, schema = await stack.enter_async_context(fresh_postgres_schema())
            backend = PostgresStore(dsn, schema=schema)
        await backend.connect()
        stack.push_async_callback(backend.close)
        yield backend


@pytest.fixture
async def simulator() -> AsyncIterator[object]:
    """A fresh Twitch simulator on a free port (`simulator.testing.run_simulator()` entered)."""
    from simulator.testing import run_simulator

    async with run_simulator() as sim:
        yield sim


# A private, restartable redis-server per test (tests/redis_server.py).
from tests.redis_server import redis_server  # noqa: E402, F401
