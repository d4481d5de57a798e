"""`DesiredState`: stored in the database (SQLite and PostgreSQL), announced on the bus, and
stored even when the announcement cannot go out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bus import Bus
from bus.memory import MemoryBus
from bus.redis import RedisBus
from cluster import DesiredState
from cluster.desired import CHANNEL
from db_infrastructure.base import Store
from db_infrastructure.sqlite import SQLiteStore
from tests.conftest import clean_redis_db


async def test_never_set_means_not_running(store: Store) -> None:
    assert await DesiredState(store, MemoryBus()).running() is False


async def test_set_is_stored_for_every_replica(store: Store) -> None:
    # Two replicas: same database, each its own bus handle.
    one, other = DesiredState(store, MemoryBus()), DesiredState(store, MemoryBus())
    await one.set(True)
    assert await one.running() is True
    assert await other.running() is True
    await other.set(False)
    assert await one.running() is False
    await one.set(True)
    await one.set(True)  # idempotent
    assert await other.running() is True


@pytest.mark.parametrize("kind", ["memory", pytest.param("redis", marks=pytest.mark.slow)])
async def test_set_is_announced_on_the_bus(store: Store, kind: str) -> None:
    async with memory_or_redis(kind) as bus:
        desired = DesiredState(store, bus)
        async with bus.psubscribe(CHANNEL) as subscription:
            await desired.set(True)
            message = await asyncio.wait_for(subscription.get(), 10)
            assert (message.channel, message.data) == (CHANNEL, "running")
            await desired.set(False)
            message = await asyncio.wait_for(subscription.get(), 10)
            assert message.data == "stopped"
        assert await desired.running() is False


async def test_set_works_while_redis_is_down(store: Store) -> None:
    # Nothing listens on port 1: every Redis call fails at once with BusUnavailable.
    down = RedisBus("redis://127.0.0.1:1/0")
    try:
        desired = DesiredState(store, down)
        await desired.set(True)
        assert await desired.running() is True
        await desired.set(False)
        assert await desired.running() is False
    finally:
        await down.close()


async def test_wish_survives_a_restart_of_the_store(tmp_path: Path) -> None:
    path = tmp_path / "streamcore.db"
    first = SQLiteStore(path)
    await first.connect()
    await DesiredState(first, MemoryBus()).set(True)
    await first.close()
    again = SQLiteStore(path)
    await again.connect()
    try:
        assert await DesiredState(again, MemoryBus()).running() is True
    finally:
        await again.close()


@asynccontextmanager
async def memory_or_redis(kind: str) -> AsyncIterator[Bus]:
    """A MemoryBus, or a RedisBus on a clean test database."""
    if kind == "memory":
        yield MemoryBus()
        return
    async with clean_redis_db() as url:
        bus = RedisBus(url)
        await bus.connect()
        try:
            yield bus
        finally:
            await bus.close()
