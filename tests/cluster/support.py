"""Helpers for the cluster tests: real Redis only, with client-side fault injection.

`RecordingRedisBus` is a real `RedisBus` that remembers when each successful `hold_lease`
was sent; `CuttableRedisBus` can be cut off from Redis (its lease calls raise
`BusUnavailable`, as they do when the network between a replica and Redis is gone);
`SlowReplyRedisBus` delivers each lease reply late (a slow network, or a paused process
that reads the reply late). Redis itself is never faked.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path

from bus import Bus, BusUnavailable
from bus.memory import MemoryBus
from bus.redis import RedisBus
from tests.conftest import clean_redis_db
from tests.redis_server import RedisServer


class RecordingRedisBus(RedisBus):
    """A RedisBus that records (monotonic send time, token) of every granted lease call."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.granted: list[tuple[float, int]] = []

    async def hold_lease(self, key: str, holder: str, ttl_ms: int) -> int | None:
        sent_at = time.monotonic()
        token = await super().hold_lease(key, holder, ttl_ms)
        if token is not None:
            self.granted.append((sent_at, token))
        return token


class CuttableRedisBus(RecordingRedisBus):
    """A RecordingRedisBus whose lease calls fail while `cut` is set (a network partition)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.cut = False

    async def hold_lease(self, key: str, holder: str, ttl_ms: int) -> int | None:
        if self.cut:
            raise BusUnavailable("Redis is unavailable (cut off by the test); retry later")
        return await super().hold_lease(key, holder, ttl_ms)

    async def release_lease(self, key: str, holder: str) -> None:
        if self.cut:
            raise BusUnavailable("Redis is unavailable (cut off by the test); retry later")
        await super().release_lease(key, holder)


class SlowReplyRedisBus(RedisBus):
    """A RedisBus whose lease replies arrive `delay_s` after Redis answered."""

    def __init__(self, url: str, delay_s: float) -> None:
        super().__init__(url)
        self.delay_s = delay_s
        self.replies = 0

    async def hold_lease(self, key: str, holder: str, ttl_ms: int) -> int | None:
        token = await super().hold_lease(key, holder, ttl_ms)
        await asyncio.sleep(self.delay_s)
        self.replies += 1
        return token


class VolatileRedisServer(RedisServer):
    """A private redis-server without any persistence: a restart loses every key."""

    def _launch(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                "redis-server",
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def restart(self) -> None:
        self.kill()
        await self.start()


@asynccontextmanager
async def volatile_redis(directory: Path) -> AsyncIterator[VolatileRedisServer]:
    server = VolatileRedisServer(directory)
    await server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()


@asynccontextmanager
async def bus_pair(kind: str) -> AsyncIterator[tuple[Bus, Bus]]:
    """Two handles on one bus, as two replicas have: one MemoryBus shared (memory), or two
    RedisBus clients with their own connection pools on one clean Redis database (redis)."""
    if kind == "memory":
        memory = MemoryBus()
        yield memory, memory
        return
    async with clean_redis_db() as url:
        first, second = RedisBus(url), RedisBus(url)
        await first.connect()
        await second.connect()
        try:
            yield first, second
        finally:
            await first.close()
            await second.close()


class Sampler:
    """Samples `probe()` every 20 ms in a task, keeping (monotonic time, value)."""

    def __init__(self, probe: Callable[[], tuple[bool, bool]]) -> None:
        self._probe = probe
        self.samples: list[tuple[float, tuple[bool, bool]]] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.samples.append((time.monotonic(), self._probe()))
            await asyncio.sleep(0.02)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task
