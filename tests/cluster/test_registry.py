"""`ReplicaRegistry`: heartbeats in one hash, members with `alive`/`self`/`holds`/`address`,
stale entries shown as gone, garbage and long-gone entries removed, `leave()`."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

import pytest

from bus import Bus, BusUnavailable
from cluster import ReplicaRegistry
from cluster.replicas import ALIVE_BEATS, BEAT_S, FORGET_S, REGISTRY_KEY
from tests.polling import eventually
from tests.redis_server import RedisServer


def entry(replica_id: str, last_seen: float, **extra: Any) -> str:
    return json.dumps(
        {"id": replica_id, "address": "10.0.0.9:8000", "started": last_seen - 60.0}
        | {"last_seen": last_seen, "holds": {}}
        | extra
    )


def parse_iso(value: str) -> float:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


async def test_beat_and_members(bus: Bus) -> None:
    holds_a: dict[str, Any] = {"coordinator": True, "fencing_token": 7}
    a = ReplicaRegistry(bus, "a:8000", "10.0.0.1:8000", lambda: dict(holds_a))
    b = ReplicaRegistry(bus, "b:8000", "10.0.0.2:8000", lambda: {})
    before = time.time()
    await a.beat()
    await b.beat()

    members = await a.members()
    assert [m["id"] for m in members] == ["a:8000", "b:8000"]
    ma, mb = members
    assert ma["self"] is True and mb["self"] is False
    assert ma["alive"] is True and mb["alive"] is True
    assert ma["address"] == "10.0.0.1:8000" and mb["address"] == "10.0.0.2:8000"
    assert ma["holds"] == {"coordinator": True, "fencing_token": 7}
    assert mb["holds"] == {}
    assert 0 <= ma["last_seen_age_s"] < ALIVE_BEATS * BEAT_S
    assert before - 1 <= parse_iso(ma["last_seen"]) <= time.time() + 1
    assert parse_iso(ma["started"]) <= parse_iso(ma["last_seen"])
    # The other replica sees the same entries, with itself as `self`.
    assert [m["self"] for m in await b.members()] == [False, True]

    # The next beat reports what the replica holds *now*.
    holds_a.clear()
    await a.beat()
    assert (await b.members())[0]["holds"] == {}


async def test_entry_older_than_three_beats_is_shown_as_gone(bus: Bus) -> None:
    me = ReplicaRegistry(bus, "me", "127.0.0.1:1", lambda: {})
    await me.beat()
    now = time.time()
    await bus.put_field(REGISTRY_KEY, "recent", entry("recent", now - BEAT_S))
    await bus.put_field(REGISTRY_KEY, "gone", entry("gone", now - ALIVE_BEATS * BEAT_S - 0.5))
    members = {m["id"]: m for m in await me.members()}
    assert members["me"]["alive"] is True
    assert members["recent"]["alive"] is True
    # Gone, but still listed (with its age) until FORGET_S.
    assert members["gone"]["alive"] is False
    assert members["gone"]["last_seen_age_s"] >= ALIVE_BEATS * BEAT_S
    assert "gone" in await bus.get_fields(REGISTRY_KEY)


async def test_entry_gone_longer_than_forget_s_is_removed(bus: Bus) -> None:
    me = ReplicaRegistry(bus, "me", "127.0.0.1:1", lambda: {})
    await me.beat()
    await bus.put_field(REGISTRY_KEY, "ancient", entry("ancient", time.time() - FORGET_S - 5))
    assert [m["id"] for m in await me.members()] == ["me"]
    assert set(await bus.get_fields(REGISTRY_KEY)) == {"me"}


GARBAGE = {
    "not-json": "not json",
    "empty": "",
    "a-list": "[1, 2]",
    "a-number": "5",
    "null": "null",
    "no-last-seen": json.dumps({"id": "x", "address": "h:1"}),
    "last-seen-not-a-number": json.dumps({"id": "x", "last_seen": "yesterday"}),
    "last-seen-nan": '{"id": "x", "last_seen": NaN}',
    "last-seen-far-future": json.dumps({"id": "x", "last_seen": 1e300}),
    "no-id": json.dumps({"last_seen": time.time()}),
    "started-not-a-number": json.dumps({"id": "x", "last_seen": time.time(), "started": "?"}),
}


@pytest.mark.parametrize("garbage", list(GARBAGE.values()), ids=list(GARBAGE))
async def test_garbage_entry_is_removed_and_never_breaks_members(bus: Bus, garbage: str) -> None:
    me = ReplicaRegistry(bus, "me", "127.0.0.1:1", lambda: {})
    await me.beat()
    await bus.put_field(REGISTRY_KEY, "broken", garbage)
    assert [m["id"] for m in await me.members()] == ["me"]
    assert set(await bus.get_fields(REGISTRY_KEY)) == {"me"}


async def test_leave_removes_only_this_replica(bus: Bus) -> None:
    a = ReplicaRegistry(bus, "a", "h:1", lambda: {})
    b = ReplicaRegistry(bus, "b", "h:2", lambda: {})
    await a.beat()
    await b.beat()
    await a.leave()
    assert [m["id"] for m in await b.members()] == ["b"]
    # Leaving twice (or without ever beating) is harmless.
    await a.leave()
    await ReplicaRegistry(bus, "never", "h:3", lambda: {}).leave()
    assert [m["id"] for m in await b.members()] == ["b"]


async def test_run_beats_every_beat_s(bus: Bus) -> None:
    registry = ReplicaRegistry(bus, "a", "h:1", lambda: {"n": 1})
    task = asyncio.create_task(registry.run())
    try:

        async def last_seen() -> float:
            raw = (await bus.get_fields(REGISTRY_KEY)).get("a")
            return 0.0 if raw is None else float(json.loads(raw)["last_seen"])

        first = await eventually(last_seen, what="the first beat")

        async def beat_again() -> bool:
            return await last_seen() > first

        await eventually(beat_again, within_s=5 * BEAT_S, what="a later beat")
        (member,) = await registry.members()
        assert member["alive"] is True and member["holds"] == {"n": 1}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.slow  # a private redis-server subprocess
async def test_heartbeat_survives_a_redis_outage(redis_server: RedisServer) -> None:
    from bus.redis import RedisBus

    bus = RedisBus(redis_server.url)
    registry = ReplicaRegistry(bus, "a", "h:1", lambda: {})
    task = asyncio.create_task(registry.run())
    try:
        await eventually(lambda: registry.members(), what="the first beat")
        redis_server.kill()
        await asyncio.sleep(2 * BEAT_S)  # a few failed beats
        assert not task.done(), "the heartbeat died with Redis"
        down_until = time.time()
        await redis_server.start()

        async def beat_after_outage() -> bool:
            members = await registry.members()
            return bool(members) and parse_iso(members[0]["last_seen"]) > down_until

        await eventually(
            beat_after_outage, ignoring=(BusUnavailable,), what="a beat after the outage"
        )
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await bus.close()


async def test_cancelled_heartbeat_always_stops(bus: Bus) -> None:
    # Cancel at each of the first loop iterations, including the moment a beat has just been
    # written: the heartbeat must stop every time, or it would write the entry back after
    # `leave()` and a replica that shut down cleanly would show as gone instead of leaving.
    registry = ReplicaRegistry(bus, "a", "h:1", lambda: {})
    for iterations in range(12):
        task = asyncio.create_task(registry.run())
        for _ in range(iterations):
            await asyncio.sleep(0)
        task.cancel()
        done, _pending = await asyncio.wait({task}, timeout=5)
        assert done, f"the heartbeat ignored a cancel after {iterations} loop iterations"
        assert task.cancelled()
    await registry.leave()
    await asyncio.sleep(BEAT_S + 0.2)  # no beat may come back
    assert await bus.get_fields(REGISTRY_KEY) == {}
