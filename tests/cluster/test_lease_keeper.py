"""`LeaseKeeper`: exactly one of several replicas acts on a lease, a clean stop hands it over
at once, a dead or cut-off holder is replaced only after its lease expired, and a holder that
cannot reach Redis (partition, paused Redis) stops acting before anyone else could start."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import pytest

from bus import Bus
from bus.redis import RedisBus
from cluster import Lease, LeaseKeeper
from tests.cluster.support import (
    CuttableRedisBus,
    RecordingRedisBus,
    Sampler,
    SlowReplyRedisBus,
    bus_pair,
)
from tests.conftest import clean_redis_db
from tests.polling import eventually
from tests.redis_server import RedisServer

KEY = "streamcore:lease:coordinator-test"
#: A holder trusts its lease for three quarters of the TTL from sending its last renewal
#: (cluster/lease.py), plus this much for a noisy machine: still well before Redis can give
#: the lease to anyone else (a whole TTL after it *ran* that renewal).
TRUSTED = 0.75
MARGIN_S = 0.3
BUSES = ["memory", pytest.param("redis", marks=pytest.mark.slow)]


@dataclass
class Change:
    at: float
    who: str
    gained: bool
    token: int | None
    #: Whether any *other* keeper was acting at that moment.
    others_acting: bool
    #: Whether the keeper trusted its lease locally (`lease.held`) at that moment.
    trusted: bool


@dataclass
class Replicas:
    """Keepers on one lease key, each with its task, and the log of their changes."""

    keepers: dict[str, LeaseKeeper] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)

    def start(self, name: str, bus: Bus, ttl_s: float) -> LeaseKeeper:
        def others_acting() -> bool:
            return any(k.acting for n, k in self.keepers.items() if n != name)

        async def gained(token: int) -> None:
            self.changes.append(
                Change(time.monotonic(), name, True, token, others_acting(), keeper.lease.held)
            )

        async def lost() -> None:
            self.changes.append(
                Change(time.monotonic(), name, False, None, others_acting(), keeper.lease.held)
            )

        keeper = LeaseKeeper(Lease(bus, KEY, f"{name}#inc", ttl_s), gained, lost, what="test")
        self.keepers[name] = keeper
        self.tasks[name] = asyncio.create_task(keeper.run(), name=f"keeper {name}")
        return keeper

    async def stop(self, name: str) -> None:
        task = self.tasks.pop(name)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    def acting(self) -> list[str]:
        return [name for name, keeper in self.keepers.items() if keeper.acting]

    def gains(self, name: str) -> list[Change]:
        return [c for c in self.changes if c.who == name and c.gained]

    def losses(self, name: str) -> list[Change]:
        return [c for c in self.changes if c.who == name and not c.gained]

    def assert_never_two_at_once(self) -> None:
        overlaps = [c for c in self.changes if c.gained and c.others_acting]
        assert not overlaps, f"a keeper started acting while another acted: {overlaps}"
        # A keeper starts acting only on a lease it trusts locally at that moment.
        untrusted = [c for c in self.changes if c.gained and not c.trusted]
        assert not untrusted, f"a keeper acted on a lease it did not trust: {untrusted}"


@asynccontextmanager
async def replicas() -> AsyncIterator[Replicas]:
    group = Replicas()
    try:
        yield group
    finally:
        for name in list(group.tasks):
            await group.stop(name)


def never_both(sampler: Sampler) -> None:
    both = [at for at, (a, b) in sampler.samples if a and b]
    assert not both, f"both keepers acted at once ({len(both)} samples)"


@pytest.mark.parametrize("kind", BUSES)
async def test_exactly_one_of_two_keepers_acts(kind: str) -> None:
    ttl = 2.0
    async with bus_pair(kind) as (bus_a, bus_b), replicas() as group:
        a = group.start("a", bus_a, ttl)
        b = group.start("b", bus_b, ttl)
        sampler = Sampler(lambda: (a.acting, b.acting))
        sampler.start()
        await eventually(lambda: group.acting(), what="one keeper acting")
        # Watch for one and a half TTLs: renewals keep the same keeper acting throughout.
        await asyncio.sleep(1.5 * ttl)
        await sampler.stop()
        never_both(sampler)
        group.assert_never_two_at_once()
        assert len(group.acting()) == 1
        (winner,) = group.acting()
        loser = "b" if winner == "a" else "a"
        keeper = group.keepers[winner]
        assert [c.token for c in group.gains(winner)] == [keeper.lease.token]
        assert keeper.gains == 1 and not group.losses(winner)
        assert group.keepers[loser].gains == 0
        assert not group.gains(loser)
        assert keeper.lease.held and not group.keepers[loser].lease.held
        assert await bus_a.lease_holder(KEY) == (f"{winner}#inc", keeper.lease.token)


@pytest.mark.parametrize("kind", BUSES)
async def test_stopped_keeper_releases_and_the_other_takes_over_at_once(kind: str) -> None:
    # A long TTL: the other keeper acts long before the lease could have expired, so it
    # was the release that handed it over.
    ttl = 6.0
    async with bus_pair(kind) as (bus_a, bus_b), replicas() as group:
        a = group.start("a", bus_a, ttl)
        await eventually(lambda: a.acting, what="a acting")
        b = group.start("b", bus_b, ttl)
        first = a.lease.token
        assert first is not None
        await group.stop("a")
        stopped_at = time.monotonic()
        # Stopping ran on_lost and gave the lease up in the bus.
        assert not a.acting and len(group.losses("a")) == 1
        holder = await bus_a.lease_holder(KEY)
        assert holder is None or holder[0] == "b#inc"
        await eventually(lambda: b.acting, within_s=ttl / 2, what="b acting after the release")
        assert time.monotonic() - stopped_at < ttl / 2
        assert b.lease.token is not None and b.lease.token > first
        group.assert_never_two_at_once()


@pytest.mark.parametrize("kind", BUSES)
async def test_dead_holders_lease_is_taken_only_after_it_expired(kind: str) -> None:
    ttl = 2.0
    async with bus_pair(kind) as (bus, _), replicas() as group:
        # A holder that died right after taking the lease: it never renews nor releases.
        taken_at = time.monotonic()
        dead = await bus.hold_lease(KEY, "dead#inc", int(ttl * 1000))
        assert dead is not None
        b = group.start("b", bus, ttl)
        await eventually(lambda: b.acting, within_s=3 * ttl, what="b acting")
        waited = time.monotonic() - taken_at
        assert waited >= ttl - 0.05, f"b acted {waited:.2f} s after the dead holder took it"
        # It tries every ttl/5, so it acts within about ttl + ttl/5 (plus a noisy-CI margin).
        assert waited <= ttl + ttl / 5 + 1.0, f"b acted only {waited:.2f} s later"
        assert b.lease.token is not None and b.lease.token > dead
        assert b.gains == 1
        group.assert_never_two_at_once()


@pytest.mark.slow  # real Redis
async def test_keeper_cut_off_from_redis_stops_before_the_lease_can_move() -> None:
    ttl = 2.0
    async with clean_redis_db() as url, replicas() as group:
        bus_a, bus_b = CuttableRedisBus(url), RedisBus(url)
        try:
            a = group.start("a", bus_a, ttl)
            await eventually(lambda: a.acting, what="a acting")
            b = group.start("b", bus_b, ttl)
            sampler = Sampler(lambda: (a.acting, b.acting))
            sampler.start()
            await asyncio.sleep(0.5)
            assert not b.acting
            first = a.lease.token
            assert first is not None

            bus_a.cut = True
            await eventually(lambda: b.acting, within_s=4 * ttl, what="b taking over")
            await sampler.stop()

            (lost,) = group.losses("a")
            last_renewal = max(sent for sent, _ in bus_a.granted)
            # a trusted its lease for 3/4 of the TTL after its last renewal ...
            assert lost.at - last_renewal <= ttl * TRUSTED + MARGIN_S
            # ... which Redis kept for the whole TTL from then: b acted only after that.
            (gained,) = group.gains("b")
            assert gained.at - last_renewal >= ttl - 0.05
            assert gained.at > lost.at
            assert gained.token is not None and gained.token > first
            never_both(sampler)
            group.assert_never_two_at_once()
            # a's way out (the release fails: still cut off) must not raise.
            await group.stop("a")
        finally:
            for name in list(group.tasks):
                await group.stop(name)
            await bus_a.close()
            await bus_b.close()


async def test_keeper_stops_acting_while_redis_is_paused(redis_server: RedisServer) -> None:
    ttl = 2.0
    pause_s = 4.0
    assert redis_server.process is not None
    pid = redis_server.process.pid
    bus_a, bus_b = RecordingRedisBus(redis_server.url), RedisBus(redis_server.url)
    async with replicas() as group:
        try:
            a = group.start("a", bus_a, ttl)
            await eventually(lambda: a.acting, what="a acting")
            b = group.start("b", bus_b, ttl)
            sampler = Sampler(lambda: (a.acting, b.acting))
            sampler.start()
            await asyncio.sleep(0.5)  # b is trying by now
            assert not b.acting
            first = a.lease.token
            assert first is not None

            os.kill(pid, signal.SIGSTOP)
            paused_at = time.monotonic()
            try:
                await eventually(lambda: not a.acting, within_s=pause_s, what="a stopping")
                await asyncio.sleep(max(0.0, paused_at + pause_s - time.monotonic()))
            finally:
                os.kill(pid, signal.SIGCONT)

            (lost,) = group.losses("a")
            last_renewal = max(sent for sent, _ in bus_a.granted if sent <= lost.at)
            # Stopped within its safe view of the lease: long before Redis (frozen, then
            # resumed) could expire it and hand it to b.
            assert lost.at - last_renewal <= ttl * TRUSTED + MARGIN_S, (
                f"a acted {lost.at - last_renewal:.2f} s after its last renewal"
            )
            assert lost.at < paused_at + ttl

            await eventually(lambda: group.acting(), within_s=4 * ttl, what="a keeper acting")
            await asyncio.sleep(0.5)
            await sampler.stop()
            never_both(sampler)
            group.assert_never_two_at_once()
            assert len(group.acting()) == 1
            later = [c for c in group.changes if c.gained and c.at > lost.at]
            assert later, group.changes
            # The lease expired during the pause: whoever holds it now has a new, greater token.
            assert all(c.token is not None and c.token > first for c in later)
            (acting,) = group.acting()
            holder = await bus_b.lease_holder(KEY)
            assert holder == (f"{acting}#inc", group.keepers[acting].lease.token)
        finally:
            for name in list(group.tasks):
                await group.stop(name)
            await bus_a.close()
            await bus_b.close()


@pytest.mark.slow  # real Redis
async def test_a_grant_that_arrives_after_the_safe_view_expired_is_not_acted_on() -> None:
    # Each reply arrives 0.9 s after Redis granted a 1 s lease: by then the keeper may trust
    # it for only 0.75 s from sending, so acting on it would overlap whoever Redis gives the
    # lease to 0.1 s later.
    ttl = 1.0
    async with clean_redis_db() as url, replicas() as group:
        slow = SlowReplyRedisBus(url, delay_s=0.9)
        try:
            keeper = group.start("slow", slow, ttl)
            await eventually(lambda: slow.replies >= 2, within_s=10, what="two late grants")
            # Never acted, not even for a moment (on_gained was never called).
            assert keeper.gains == 0 and not group.gains("slow"), group.changes
            assert not keeper.acting
        finally:
            for name in list(group.tasks):
                await group.stop(name)
            await slow.close()


@pytest.mark.parametrize("kind", BUSES)
async def test_cancelled_keeper_always_stops_and_releases(kind: str) -> None:
    # Cancel at each of the first loop iterations of the keeper, including the moment its
    # lease call has just completed: every time it must stop, say it lost the lease, and
    # give the lease up.
    async with bus_pair(kind) as (bus, _):
        for iterations in range(12):
            lost: list[bool] = []

            async def on_lost(lost: list[bool] = lost) -> None:
                lost.append(True)

            keeper = LeaseKeeper(Lease(bus, KEY, "a#inc", 2.0), nothing, on_lost, what="test")
            task = asyncio.create_task(keeper.run())
            for _ in range(iterations):
                await asyncio.sleep(0)
            task.cancel()
            done, _pending = await asyncio.wait({task}, timeout=5)
            assert done, f"the keeper ignored a cancel after {iterations} loop iterations"
            assert task.cancelled()
            assert not keeper.acting
            assert len(lost) == keeper.gains  # on_lost once for each time it acted
            assert await bus.lease_holder(KEY) is None


async def nothing(*_: object) -> None:
    return None
