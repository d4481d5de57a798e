"""Fixtures for the gateway tests: the simulator with short timers, and a Redis bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bus.redis import RedisBus


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    """The simulator, accepting 1-2 s keepalives and a short reconnect grace (test timers)."""
    from simulator.testing import run_simulator

    async with run_simulator(min_keepalive_s=1, reconnect_grace_s=5) as simulator:
        yield simulator


@pytest.fixture
async def redis_bus(redis_url: str) -> AsyncIterator[RedisBus]:
    """A RedisBus on the clean REDIS_TEST_DB database."""
    bus = RedisBus(redis_url)
    await bus.connect()
    yield bus
    await bus.close()
