"""A worker that blocks the event loop is detected, named and counted; `run_in_thread` is
the way out (it keeps the loop free)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from core.loopwatch import LoopWatch
from tests.workers.testkit import append_event, eventually, running_workers
from workers.base import BaseWorker

ONLINE = {"type": "stream.online", "version": "1", "condition": {"broadcaster_user_id": "1"}}


class SleepsOnTheLoopWorker(BaseWorker):
    handled = 0

    def get_subscriptions(self, broadcaster_id, moderator_id):
        return [ONLINE]

    async def handle(self, event_type, payload):
        time.sleep(1.0)  # noqa: ASYNC251 - the blocking call a user might write
        type(self).handled += 1


class SleepsInAThreadWorker(BaseWorker):
    handled = 0

    def get_subscriptions(self, broadcaster_id, moderator_id):
        return [ONLINE]

    async def handle(self, event_type, payload):
        await self.run_in_thread(time.sleep, 1.0)
        type(self).handled += 1


async def _watched(
    worker: type[SleepsOnTheLoopWorker] | type[SleepsInAThreadWorker], memory_bus, sqlite_store
) -> LoopWatch:
    watch = LoopWatch()
    watching = asyncio.create_task(watch.run())
    try:
        async with running_workers(memory_bus, sqlite_store, [worker]):
            await append_event(memory_bus, "stream.online", {"n": 1})
            await eventually(lambda: worker.handled == 1, within_s=10, what="the entry handled")
            await asyncio.sleep(0.3)  # a tick after the handler, so a stall is counted
    finally:
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
    return watch


async def test_a_blocking_worker_is_named_in_the_log_and_counted(
    memory_bus, sqlite_store, caplog: pytest.LogCaptureFixture
) -> None:
    SleepsOnTheLoopWorker.handled = 0
    with caplog.at_level(logging.WARNING, logger="streamcore.loop"):
        watch = await _watched(SleepsOnTheLoopWorker, memory_bus, sqlite_store)

    assert watch.stats.stalls == 1
    assert watch.stats.longest_s >= 0.9
    culprit = "worker sleeps_on_the_loop: handle(stream.online)"
    running = watch.stats.last["running"]
    assert isinstance(running, list) and any(culprit in line for line in running)
    blocked = [r.getMessage() for r in caplog.records if "blocked" in r.getMessage()]
    assert blocked and culprit in blocked[0] and "run_in_thread" in blocked[0]


async def test_run_in_thread_keeps_the_loop_free(memory_bus, sqlite_store) -> None:
    SleepsInAThreadWorker.handled = 0
    watch = await _watched(SleepsInAThreadWorker, memory_bus, sqlite_store)
    assert watch.stats.stalls == 0
