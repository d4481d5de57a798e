"""A connected client misses nothing across Redis restarts, and a reconnect storm is served.

The fan-out reads the durable event log from a position it keeps, so events appended while
its connection to Redis was down reach every connected client once, in order, when Redis is
back. Replays queue for a few slots instead of emptying Redis' connection pool.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from bus.errors import BusUnavailable
from bus.redis import RedisBus
from events.publisher import EventPublisher
from tests.events.conftest import run_streamcore
from tests.polling import eventually
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow

#: Events published in the restart test, and how often Redis is killed and restarted.
EVENTS = 150
RESTARTS = 2


async def _collect(ws: ClientConnection, into: list[dict[str, object]]) -> None:
    async for text in ws:
        into.append(json.loads(text))


async def test_a_connected_client_receives_every_event_once_in_order_across_redis_restarts(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with run_streamcore(tmp_path, redis_server.url) as server:
        received: list[dict[str, object]] = []
        ws = await connect(server.ws_url("events=restart.test"), open_timeout=10)
        reader = asyncio.create_task(_collect(ws, received))
        await eventually(lambda: server.connected() == 1, what="the client connected")

        bus = RedisBus(redis_server.url)
        await bus.connect()
        publisher = EventPublisher(bus)
        # The killer takes the lock, so no publish is in flight when Redis dies: a publish
        # either failed (nothing appended, retried) or succeeded, never both.
        no_publish_in_flight = asyncio.Lock()

        async def publish_all() -> None:
            n = 0
            while n < EVENTS:
                async with no_publish_in_flight:
                    try:
                        await publisher.publish("restart.test", {"n": n})
                    except BusUnavailable:
                        pass  # Redis is down: retry this event (as a worker would)
                    else:
                        n += 1
                await asyncio.sleep(0.02)

        async def restart_redis() -> None:
            for _ in range(RESTARTS):
                await asyncio.sleep(0.6)
                async with no_publish_in_flight:
                    redis_server.kill()
                await asyncio.sleep(1.0)
                await redis_server.start()

        try:
            await asyncio.gather(publish_all(), restart_redis())
            await eventually(
                lambda: len(received) >= EVENTS, within_s=30, what=f"{EVENTS} events received"
            )
        finally:
            await bus.close()
            reader.cancel()
            await ws.close()

    numbers = [event["data"]["n"] for event in received]  # type: ignore[index]
    assert numbers == list(range(EVENTS))
    ids = [str(event["id"]) for event in received]
    keys = [tuple(int(part) for part in event_id.split("-")) for event_id in ids]
    assert keys == sorted(keys) and len(set(ids)) == EVENTS


async def test_a_reconnect_storm_is_served_without_exhausting_redis(
    tmp_path: Path, redis_url: str
) -> None:
    clients = 150
    # A pool far smaller than the storm: replays must queue for it, not fail.
    async with run_streamcore(
        tmp_path, redis_url, redis_max_connections=12, ws_replay_concurrency=4
    ) as server:
        publisher = server.publisher
        history = [await publisher.publish("storm.test", {"n": n}) for n in range(20)]

        async def replay_all() -> list[int]:
            async with connect(server.ws_url("since=0"), open_timeout=30) as ws:
                numbers: list[int] = []
                while len(numbers) < len(history):
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    numbers.append(frame["data"]["n"])
                return numbers

        results = await asyncio.gather(*(replay_all() for _ in range(clients)))

    assert all(numbers == list(range(20)) for numbers in results)
