"""The runtime on every bus backend: order, retries, dead letters, replay, timeout, isolation."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, ClassVar

from bus.errors import BusUnavailable
from bus.memory import MemoryBus
from core.constants import EVENTS_LOG_STREAM
from tests.workers.testkit import (
    FAST,
    append_event,
    captured_events,
    eventually,
    running_workers,
)
from worker_runtime.consumer import replay_hint
from worker_runtime.runtime import WorkerRuntime
from workers.base import BaseWorker

ONLINE = {"type": "stream.online", "version": "1", "condition": {"broadcaster_user_id": "1"}}
OFFLINE = {"type": "stream.offline", "version": "1", "condition": {"broadcaster_user_id": "1"}}


async def settled(runtime: WorkerRuntime, handled: int, what: str) -> dict[str, Any]:
    """The worker's status once `handled` entries (or more: the caller asserts the exact
    numbers) were handled *and acked*, nothing left pending.

    A handler's own side effect (a list it appends to) shows up before the runtime counts and
    acks the entry, right after `handle` returns; tests that assert on the ack wait for this.
    """

    async def done() -> dict[str, Any] | None:
        [status] = await runtime.status()
        return status if status["handled"] >= handled and status["pending"] == 0 else None

    return await eventually(done, what=what)


def recorder(name: str, seen: list[Any], subscriptions: list[dict[str, Any]] = [ONLINE]):  # noqa: B006
    class Recorder(BaseWorker):
        def get_subscriptions(self, broadcaster_id, moderator_id):
            return subscriptions

        async def handle(self, event_type, payload):
            seen.append((event_type, payload["event"]["n"]))

    Recorder.name = name
    return Recorder


async def test_a_worker_sees_each_types_events_in_the_order_they_were_written(bus, sqlite_store):
    # Each type is its own durable stream, so order is guaranteed per type; across types the
    # runtime sorts each batch by entry id, which is best effort within a millisecond.
    seen: list[Any] = []
    worker = recorder("ordered", seen, [ONLINE, OFFLINE])
    async with running_workers(bus, sqlite_store, [worker]):
        expected = []
        for n in range(30):
            event_type = "stream.online" if n % 3 else "stream.offline"
            await append_event(bus, event_type, {"n": n})
            expected.append((event_type, n))
        await eventually(lambda: len(seen) == 30, what="30 events")
    for event_type in ("stream.online", "stream.offline"):
        assert [n for t, n in seen if t == event_type] == [
            n for t, n in expected if t == event_type
        ]
    assert sorted(seen) == sorted(expected)


async def test_failing_handler_is_retried_then_dead_lettered_then_replayed(bus, sqlite_store):
    attempts: list[int] = []
    handled: list[int] = []
    broken = {"yes": True}

    class Flaky(BaseWorker):
        name = "flaky"
        max_retries = 2
        retry_delay_s = 0.01

        def get_subscriptions(self, broadcaster_id, moderator_id):
            return [ONLINE]

        async def handle(self, event_type, payload):
            n = payload["event"]["n"]
            attempts.append(n)
            if broken["yes"] and n == 1:
                raise ValueError("cannot handle event 1")
            handled.append(n)

    async with running_workers(bus, sqlite_store, [Flaky]) as runtime:
        await append_event(bus, "stream.online", {"n": 1})
        await append_event(bus, "stream.online", {"n": 2})
        status = await settled(runtime, 1, what="event 2 handled and acked after 1 gave up")
        assert handled == [2]
        assert attempts == [1, 1, 1, 2]  # first try + max_retries, then the next event
        assert status["failed"] == 3
        assert status["handled"] == 1
        assert status["dead_letters"] == 1
        assert status["pending"] == 0  # the dead-lettered entry was acked

        broken["yes"] = False
        assert await runtime.replay("flaky") == 1
        status = await settled(runtime, 2, what="the replayed event handled and acked")
        assert handled == [2, 1]
        assert status["dead_letters"] == 0
        assert await runtime.replay("flaky") == 0  # each dead letter is replayed once


async def test_a_handler_exceeding_its_timeout_counts_as_failed(bus, sqlite_store):
    class Sleepy(BaseWorker):
        name = "sleepy"
        max_retries = 0
        handle_timeout_s = 0.2

        def get_subscriptions(self, broadcaster_id, moderator_id):
            return [ONLINE]

        async def handle(self, event_type, payload):
            await asyncio.sleep(30)

    async with running_workers(bus, sqlite_store, [Sleepy]) as runtime:
        await append_event(bus, "stream.online", {"n": 1})

        async def dead_lettered() -> dict[str, Any] | None:
            [status] = await runtime.status()
            return status if status["dead_letters"] == 1 else None

        status = await eventually(dead_lettered, what="the timed-out event dead-lettered")
        assert status["dead_letters"] == 1
        assert status["failed"] == 1
        assert "handle_timeout_s=0.2" in status["last_error"]


async def test_a_slow_worker_does_not_delay_another_workers_emits(bus, sqlite_store):
    slow_started: list[int] = []
    slow_finished: list[int] = []

    class Slow(BaseWorker):
        name = "slow"

        def get_subscriptions(self, broadcaster_id, moderator_id):
            return [ONLINE]

        async def handle(self, event_type, payload):
            slow_started.append(payload["event"]["n"])
            await asyncio.sleep(10)
            slow_finished.append(payload["event"]["n"])

    class Fast(BaseWorker):
        name = "fast"

        def get_subscriptions(self, broadcaster_id, moderator_id):
            return [ONLINE]

        async def handle(self, event_type, payload):
            await self.emit("fast.done", {"n": payload["event"]["n"]})

    async with (
        captured_events(bus) as events,
        running_workers(bus, sqlite_store, [Slow, Fast]),
    ):
        for n in range(5):
            await append_event(bus, "stream.online", {"n": n})
        await eventually(lambda: len(events) == 5, what="the fast worker's 5 emits")
        assert [e["data"]["n"] for e in events] == [0, 1, 2, 3, 4]
        assert slow_started == [0]
        assert slow_finished == []  # still asleep on its first event


class OutageBus(MemoryBus):
    """A memory bus whose reads and acks fail while `down` is set (Redis restarting)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.refused = 0

    def _check(self) -> None:
        if self.down:
            self.refused += 1
            raise BusUnavailable("Redis is unavailable (test outage); retry later")

    async def read_group(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return await super().read_group(*args, **kwargs)

    async def ack(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return await super().ack(*args, **kwargs)


async def test_consumer_loop_survives_a_bus_outage_without_losing_or_repeating(sqlite_store):
    bus = OutageBus()
    seen: list[Any] = []
    outage_during_handle = {"done": False}

    class Survivor(BaseWorker):
        name = "survivor"

        def get_subscriptions(self, broadcaster_id, moderator_id):
            return [ONLINE]

        async def handle(self, event_type, payload):
            seen.append(payload["event"]["n"])
            if not outage_during_handle["done"]:
                outage_during_handle["done"] = True
                bus.down = True  # the ack right after this handle fails

    async with running_workers(bus, sqlite_store, [Survivor]) as runtime:
        await append_event(bus, "stream.online", {"n": 1})
        await eventually(lambda: bus.refused >= 3, what="the loop hitting the outage")
        await append_event(bus, "stream.online", {"n": 2})
        bus.down = False
        status = await settled(runtime, 2, what="both events handled and acked after the outage")
        assert seen == [1, 2]
        assert status["pending"] == 0
        assert status["state"] == "running"
    assert seen == [1, 2]


class EmitsThenFailsOnceWorker(BaseWorker):
    """Emits two events, then fails its first attempt: the retry emits the same two again."""

    attempts = 0
    ids: ClassVar[list[str]] = []

    def get_subscriptions(self, broadcaster_id, moderator_id):
        return [ONLINE]

    async def handle(self, event_type, payload):
        type(self).attempts += 1
        self.ids.append(await self.emit("retried.first", {"n": 1}))
        self.ids.append(await self.emit("retried.second", {"n": 2}))
        if type(self).attempts == 1:
            raise RuntimeError("the first attempt fails after emitting")


async def test_a_retried_handle_emits_each_event_once_with_a_stable_id(bus, sqlite_store):
    EmitsThenFailsOnceWorker.attempts, EmitsThenFailsOnceWorker.ids = 0, []
    async with (
        captured_events(bus) as events,
        running_workers(bus, sqlite_store, [EmitsThenFailsOnceWorker]) as runtime,
    ):
        await append_event(bus, "stream.online", {"n": 1})
        await eventually(
            lambda: EmitsThenFailsOnceWorker.attempts == 2 and len(events) == 2,
            what="the retry and both events",
        )
        await settled(runtime, 1, "the retried entry acked")
        logged = await bus.read_range(EVENTS_LOG_STREAM)

    first_attempt, retry = EmitsThenFailsOnceWorker.ids[:2], EmitsThenFailsOnceWorker.ids[2:]
    assert retry == first_attempt  # the retry's emits answer the first ids
    assert [e["event"] for e in events] == ["retried.first", "retried.second"]
    assert [e["id"] for e in events] == first_attempt
    assert [entry.id for entry in logged] == first_attempt  # logged once each


async def test_dead_consumer_names_with_nothing_pending_are_removed(bus, sqlite_store):
    # Restarted processes get new consumer names; the old ones must not pile up in groups.
    seen: list[Any] = []
    worker = recorder("pruned", seen)
    group, stream = "worker:pruned", "eventsub:stream.online"
    await bus.ensure_group(stream, group, "$")
    await append_event(bus, "stream.online", {"n": 1})
    [held] = await bus.read_group(group, "crashed-holding", [stream])
    await append_event(bus, "stream.online", {"n": 2})
    [done] = await bus.read_group(group, "crashed-idle", [stream])
    await bus.ack(stream, group, done.id)
    options = replace(FAST, claim_interval_s=0.05, claim_idle_ms=3_600_000, prune_idle_ms=0)
    async with running_workers(bus, sqlite_store, [worker], options=options) as runtime:

        async def pruned() -> list[str] | None:
            names = sorted(c.name for c in await bus.consumers(stream, group))
            return names if "crashed-idle" not in names else None

        names = await eventually(pruned, what="the idle dead consumer removed")
    # The one still holding an entry stays until its entry is claimed; ours stays too.
    assert names == sorted(["crashed-holding", runtime.consumer_name])
    assert held.fields


def test_the_dead_letter_hint_names_a_replay_that_works_on_the_bus_in_use():
    assert "streamcore workers replay alerts" in replay_hint("redis", "alerts")
    memory = replay_hint("memory", "alerts")
    assert "streamcore workers replay" not in memory
    assert "POST /system/workers/alerts/replay" in memory


class LosesOneReadReply(MemoryBus):
    """Redis dying after it applied an XREADGROUP: the entries are pending to the consumer,
    but the reply never arrives."""

    lost = False

    async def read_group(self, *args: Any, **kwargs: Any) -> list[Any]:
        entries = await super().read_group(*args, **kwargs)
        if entries and not self.lost:
            self.lost = True
            raise BusUnavailable("the reply was lost")
        return entries


async def test_entries_of_a_read_whose_reply_was_lost_are_handled_at_once(sqlite_store):
    bus = LosesOneReadReply()
    seen: list[Any] = []
    # A claim would find them only after an hour here: recovery must not depend on it.
    options = replace(FAST, claim_idle_ms=3_600_000)
    async with running_workers(bus, sqlite_store, [recorder("lossy", seen)], options=options) as r:
        await append_event(bus, "stream.online", {"n": 1})
        await eventually(lambda: seen == [("stream.online", 1)], what="the entry handled")
        status = await settled(r, 1, "the entry acked")
    assert bus.lost
    assert status["state"] == "running"  # not left at backing_off once the bus answers again
