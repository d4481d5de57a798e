"""With real Redis: restarts lose nothing and repeat nothing; processes share one group."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from bus.redis import RedisBus
from core.constants import EVENTSUB_STREAM, WORKER_GROUP
from tests.workers.testkit import FAST, append_event, eventually, running_workers
from worker_runtime.consumer import ConsumerOptions
from workers.base import BaseWorker

ONLINE = {"type": "stream.online", "version": "1", "condition": {"broadcaster_user_id": "1"}}
STREAM = EVENTSUB_STREAM.format(type="stream.online")


def counting_worker(seen: list[int], delay_s: float = 0.0) -> type[BaseWorker]:
    class Counting(BaseWorker):
        name = "counting"

        def get_subscriptions(self, broadcaster_id, moderator_id):
            return [ONLINE]

        async def handle(self, event_type, payload):
            if delay_s:
                await asyncio.sleep(delay_s)
            seen.append(payload["event"]["n"])

    return Counting


async def test_restart_resumes_after_the_last_ack_without_loss_or_double_handling(
    redis_url, sqlite_store
):
    seen: list[int] = []
    worker = counting_worker(seen)
    group = WORKER_GROUP.format(worker="counting")
    bus = RedisBus(redis_url)
    await bus.connect()
    try:
        async with running_workers(bus, sqlite_store, [worker], consumer_name="host-1"):
            for n in range(1, 6):
                await append_event(bus, "stream.online", {"n": n})
            await eventually(lambda: len(seen) == 5, what="events 1-5 before the restart")

        # While the runtime is down: this consumer crashed holding 6-7 (delivered, never
        # acked), a consumer that is gone for good holds 8-9, and 10-12 are new.
        for n in range(6, 13):
            await append_event(bus, "stream.online", {"n": n})
        held = await bus.read_group(group, "host-1", [STREAM], count=2)
        orphaned = await bus.read_group(group, "host-gone", [STREAM], count=2)
        assert [len(held), len(orphaned)] == [2, 2]

        restarted = ConsumerOptions(**{**FAST.__dict__, "claim_idle_ms": 0})
        async with running_workers(
            bus, sqlite_store, [worker], consumer_name="host-1", options=restarted
        ) as runtime:

            async def acked() -> dict[str, Any] | None:
                # The ack follows `handle`: wait for the runtime's count and the group's pending
                # list, not only for the handler's own record of the last event.
                [status] = await runtime.status()
                return status if status["handled"] >= 7 and status["pending"] == 0 else None

            status = await eventually(acked, what="events 6-12 handled and acked after restart")
            assert status["pending"] == 0
            assert status["lag"] == 0
    finally:
        await bus.close()
    assert seen == list(range(1, 13))  # own pending first, then the claimed, then new


async def test_two_worker_processes_share_one_consumer_group(redis_url, sqlite_store):
    seen: list[int] = []
    worker = counting_worker(seen, delay_s=0.02)
    one_at_a_time = ConsumerOptions(**{**FAST.__dict__, "batch_size": 1})
    buses = [RedisBus(redis_url), RedisBus(redis_url)]
    handled: list[Any] = []
    for bus in buses:
        await bus.connect()
    try:
        async with (
            running_workers(
                buses[0], sqlite_store, [worker], consumer_name="p1", options=one_at_a_time
            ) as first,
            running_workers(
                buses[1], sqlite_store, [worker], consumer_name="p2", options=one_at_a_time
            ) as second,
        ):
            for n in range(40):
                await append_event(buses[0], "stream.online", {"n": n})
            await eventually(lambda: len(seen) == 40, what="all 40 events")
            await asyncio.sleep(0.3)  # let any duplicate show up (not a proof of absence)
            handled = [(await r.status())[0]["handled"] for r in (first, second)]
    finally:
        for bus in buses:
            await bus.close()
    assert Counter(seen) == Counter(range(40))  # every event exactly once
    assert sum(handled) == 40
    assert all(count > 0 for count in handled), handled  # both processes took a share
