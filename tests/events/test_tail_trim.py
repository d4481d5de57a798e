"""The fan-out never loses events silently when the capped event log is trimmed past it: a
StreamCore whose process stalls while more than EVENTS_RETENTION_COUNT events are appended
tells its clients how many it could not deliver (`system.events_lost`), and delivers the rest
in order. Real Redis, a real server and WebSocket client; the rule itself in isolation below."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bus.base import StreamCounts
from bus.redis import RedisBus
from events.publisher import EventPublisher
from events.tail_trim import EVENTS_LOST, TrimWatch
from tests.events.conftest import Connect, receive_json, run_streamcore

RETENTION = 20
BURST = 400


def publish_burst(redis_url: str, count: int) -> None:
    """Another process's emits (its own thread, loop and connection), capped like ours."""

    async def burst() -> None:
        bus = RedisBus(redis_url)
        await bus.connect()
        try:
            publisher = EventPublisher(bus, RETENTION)
            for n in range(count):
                await publisher.publish("alert.follow", {"n": n})
        finally:
            await bus.close()

    asyncio.run(burst())


async def test_events_trimmed_while_the_process_stalled_are_announced_not_lost_silently(
    tmp_path: Path, redis_url: str, ws_connect: Connect
) -> None:
    async with run_streamcore(tmp_path, redis_url, events_retention_count=RETENTION) as server:
        ws = await ws_connect(server.ws_url())
        await server.publisher.publish("alert.follow", {"n": -1})  # connected and live
        assert (await receive_json(ws))["data"] == {"n": -1}
        sender = threading.Thread(target=publish_burst, args=(redis_url, BURST))
        sender.start()
        sender.join()  # this loop (server and client) is stalled meanwhile, as by a GC or CPU
        time.sleep(0.3)  # noqa: ASYNC251 - the stall under test, longer than TAIL_STALL_S
        received: list[int] = []
        notices: list[dict[str, Any]] = []
        while len(received) + sum(n["data"]["lost"] for n in notices) < BURST:
            frame = await receive_json(ws)
            if frame["event"] == EVENTS_LOST:
                notices.append(frame)
            else:
                received.append(frame["data"]["n"])
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"{server.http_url}/metrics")).text
    lost = sum(n["data"]["lost"] for n in notices)
    assert f"streamcore_events_trimmed_unread_total {float(lost)}" in metrics
    # Redis trims whole nodes of about 100 entries (MAXLEN ~), so a few more are kept.
    assert notices and lost + len(received) == BURST and lost >= BURST // 2, (lost, received)
    assert notices[0]["id"] is None and notices[0]["data"]["after"]
    # What was not trimmed arrives once, in order: the first of the burst (the read in flight
    # when the stall began may hold it), then the newest; one run is missing, as announced.
    missing = sorted(set(range(BURST)) - set(received))
    assert received == sorted(set(received)) and received[-1] == BURST - 1
    assert missing == list(range(missing[0], missing[0] + lost))


def counts(added: int, length: int) -> StreamCounts:
    return StreamCounts(f"{added}-0", added, length)


def test_a_tail_that_keeps_up_asks_for_no_counts_and_sees_no_loss() -> None:
    watch = TrimWatch(full_read=500, stall_s=0.25, block_s=2.0)
    watch.baseline(counts(100, 100), "100-0")
    for n in range(1, 50):
        watch.read(3, now=n * 0.02, waited_s=0.01, newest_age_s=0.005)
        assert not watch.check_due(now=n * 0.02 + 0.01)
    assert watch.ordinal == 100 + 49 * 3


def test_a_backlog_or_a_stall_checks_and_counts_exactly_what_the_trim_took() -> None:
    watch = TrimWatch(full_read=500, stall_s=0.25, block_s=2.0)
    watch.baseline(counts(1000, 1000), "1000-0")
    watch.read(1, now=10.0, waited_s=0.0, newest_age_s=3.0)  # its reply waited 3 s
    assert watch.check_due(now=10.01)
    # 5,000 appended meanwhile, 1,000 kept: 1,001..4,999 trimmed, 1,001 was read.
    assert watch.checked(counts(6001, 1002)) == 6001 - 1002 - 1001
    assert not watch.check_due(now=10.02)
    watch.read(500, now=10.03, waited_s=0.0, newest_age_s=0.1)  # a full read: a backlog
    assert watch.check_due(now=10.04)
    assert watch.checked(counts(6001, 1002)) == 0  # nothing more since: not counted twice


def test_after_an_outage_or_a_recreated_log_nothing_is_claimed_until_caught_up() -> None:
    watch = TrimWatch(full_read=500, stall_s=0.25, block_s=2.0)
    watch.baseline(counts(1000, 1000), "1000-0")
    watch.lost_track()
    watch.read(500, now=1.0, waited_s=0.0, newest_age_s=9.0)
    assert not watch.check_due(now=2.0)
    watch.baseline(counts(20, 20), "19-0")  # not at the end yet
    assert watch.ordinal is None
    watch.baseline(counts(20, 20), "20-0")
    assert watch.ordinal == 20
    assert watch.checked(counts(5, 5)) == 0 and watch.ordinal is None  # Redis lost the log
