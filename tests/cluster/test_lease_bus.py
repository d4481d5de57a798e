"""`Bus.hold_lease` / `release_lease` / `lease_holder` on both buses, and fencing tokens that
keep growing across a Redis restart that lost every key."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from redis.exceptions import RedisError

from bus import Bus
from bus.redis import RedisBus
from tests.cluster.support import volatile_redis
from tests.polling import eventually

KEY = "streamcore:lease:test"
TTL_MS = 1000


async def test_free_lease_is_taken_and_reported(bus: Bus) -> None:
    assert await bus.lease_holder(KEY) is None
    token = await bus.hold_lease(KEY, "a#1", TTL_MS)
    assert isinstance(token, int)
    assert await bus.lease_holder(KEY) == ("a#1", token)


async def test_renewal_keeps_the_token_and_extends_the_lease(bus: Bus) -> None:
    token = await bus.hold_lease(KEY, "a#1", TTL_MS)
    assert token is not None
    # Renew every 0.3 s for about twice the TTL: the lease never lapses, so the other
    # holder is refused throughout and the token never changes.
    started = time.monotonic()
    while time.monotonic() - started < 2 * TTL_MS / 1000:
        await asyncio.sleep(0.3)
        assert await bus.hold_lease(KEY, "a#1", TTL_MS) == token
        assert await bus.hold_lease(KEY, "b#1", TTL_MS) is None
        assert await bus.lease_holder(KEY) == ("a#1", token)


async def test_other_holder_is_refused_while_held(bus: Bus) -> None:
    token = await bus.hold_lease(KEY, "a#1", TTL_MS)
    assert await bus.hold_lease(KEY, "b#1", TTL_MS) is None
    # A refused attempt changes nothing: the holder and its token stay.
    assert await bus.lease_holder(KEY) == ("a#1", token)
    assert await bus.hold_lease(KEY, "a#1", TTL_MS) == token


async def test_expired_lease_goes_to_another_holder_with_a_greater_token(bus: Bus) -> None:
    before = time.monotonic()
    first = await bus.hold_lease(KEY, "a#1", TTL_MS)
    assert first is not None

    async def taken_by_b() -> int:
        return await bus.hold_lease(KEY, "b#1", TTL_MS) or 0

    second = await eventually(taken_by_b, within_s=TTL_MS / 1000 + 5, what="b taking the lease")
    # Never before the first holding could have expired.
    assert time.monotonic() - before >= TTL_MS / 1000 - 0.05
    assert second > first
    assert await bus.lease_holder(KEY) == ("b#1", second)
    # The former holder is now refused.
    assert await bus.hold_lease(KEY, "a#1", TTL_MS) is None


async def test_same_holder_after_expiry_gets_a_new_greater_token(bus: Bus) -> None:
    first = await bus.hold_lease(KEY, "a#1", TTL_MS)
    assert first is not None
    assert await bus.lease_holder(KEY) == ("a#1", first)

    async def expired() -> bool:
        return await bus.lease_holder(KEY) is None

    await eventually(expired, within_s=TTL_MS / 1000 + 5, what="the lease expiring")
    again = await bus.hold_lease(KEY, "a#1", TTL_MS)
    assert again is not None and again > first


async def test_release_by_the_holder_frees_the_lease_at_once(bus: Bus) -> None:
    first = await bus.hold_lease(KEY, "a#1", 60_000)
    assert first is not None
    await bus.release_lease(KEY, "a#1")
    assert await bus.lease_holder(KEY) is None
    second = await bus.hold_lease(KEY, "b#1", 60_000)
    assert second is not None and second > first
    assert await bus.lease_holder(KEY) == ("b#1", second)


async def test_release_by_a_non_holder_does_nothing(bus: Bus) -> None:
    token = await bus.hold_lease(KEY, "a#1", 60_000)
    await bus.release_lease(KEY, "b#1")
    # Same name, other incarnation: not the holder either.
    await bus.release_lease(KEY, "a#2")
    assert await bus.lease_holder(KEY) == ("a#1", token)
    assert await bus.hold_lease(KEY, "b#1", 60_000) is None
    # Releasing a lease nobody holds is harmless.
    await bus.release_lease("streamcore:lease:nobody", "a#1")
    assert await bus.lease_holder("streamcore:lease:nobody") is None


async def test_leases_on_different_keys_are_independent(bus: Bus) -> None:
    first = await bus.hold_lease(KEY, "a#1", 60_000)
    other = await bus.hold_lease(f"{KEY}:other", "b#1", 60_000)
    assert first is not None and other is not None
    assert await bus.lease_holder(KEY) == ("a#1", first)
    assert await bus.lease_holder(f"{KEY}:other") == ("b#1", other)
    await bus.release_lease(KEY, "a#1")
    assert await bus.lease_holder(f"{KEY}:other") == ("b#1", other)


async def test_tokens_grow_over_many_handovers(bus: Bus) -> None:
    tokens = []
    for round_ in range(20):
        holder = f"replica-{round_ % 3}#x"
        token = await bus.hold_lease(KEY, holder, 60_000)
        assert token is not None
        tokens.append(token)
        await bus.release_lease(KEY, holder)
    assert tokens == sorted(set(tokens)), tokens


@pytest.mark.slow  # a private redis-server subprocess
async def test_token_keeps_growing_across_a_redis_restart_without_persistence(
    tmp_path: Path,
) -> None:
    async with volatile_redis(tmp_path) as server:
        bus = RedisBus(server.url)
        await bus.connect()
        try:
            # A few hand-overs before the restart, each with a greater token.
            first, previous = 0, None
            for holder in ("a#1", "b#1", "c#1", "a#1"):
                if previous is not None:
                    await bus.release_lease(KEY, previous)
                token = await bus.hold_lease(KEY, holder, 60_000)
                assert token is not None and token > first
                first, previous = token, holder

            await server.restart()

            async def redis_back() -> bool:
                return bool(await bus.client.ping())

            await eventually(redis_back, ignoring=(RedisError,), what="Redis back")
            # The restart lost every key: the lease and its counter are gone...
            assert await bus.client.dbsize() == 0
            # ... "b" takes the lease at once...
            second = await bus.hold_lease(KEY, "b#1", 60_000)
            assert second is not None
            # ... with a token greater than any before the restart.
            assert second > first
        finally:
            await bus.close()
