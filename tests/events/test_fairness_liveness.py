"""Slow, dead and misbehaving clients are dropped alone; everyone else keeps receiving."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.events.conftest import Connect, receive_json, run_streamcore
from tests.polling import eventually
from tests.rawws import RawClient, close_code

#: A tiny receive window, so an unread socket backs up into the server quickly.
SMALL_WINDOW = 4096


async def test_slow_client_is_disconnected_with_4008_while_others_receive_everything(
    tmp_path: Path, redis_url: str, ws_connect: Connect
) -> None:
    async with run_streamcore(
        tmp_path, redis_url, ws_client_buffer=50, ws_client_buffer_bytes=65_536
    ) as server:
        broadcaster = server.services.broadcaster
        assert broadcaster is not None
        slow = await RawClient.connect(server.port, "/ws/events", SMALL_WINDOW)
        reader = await ws_connect(server.ws_url(), max_size=2**20)
        await eventually(lambda: server.connected() == 2, what="2 clients connected")
        payload = "x" * 32_768
        received: list[int] = []

        async def read_all(count: int) -> None:
            while len(received) < count:
                received.append((await receive_json(reader))["data"]["n"])

        sent = 0
        consumer = asyncio.create_task(read_all(10_000))
        while broadcaster.stats.slow_disconnects == 0:
            assert sent < 2_000, "the slow client was never disconnected"
            await server.publisher.publish("chat.message", {"n": sent, "text": payload})
            sent += 1
        await eventually(lambda: len(received) == sent, what=f"all {sent} events read")
        consumer.cancel()
        assert received == list(range(sent))
        await eventually(lambda: server.connected() == 1, what="1 client connected")
        # Once the slow client reads again, it finds the close frame behind the backlog.
        frames = await slow.read_frames_until_close()
        code = close_code(frames)
        assert code is not None and code[0] == 4008 and "too slow" in code[1]
        slow.close()


async def test_client_that_never_answers_pings_is_reaped(
    tmp_path: Path, redis_url: str, ws_connect: Connect
) -> None:
    async with run_streamcore(
        tmp_path, redis_url, ws_ping_interval_s=0.2, ws_ping_timeout_s=0.3
    ) as server:
        dead = await RawClient.connect(server.port, "/ws/events", SMALL_WINDOW)
        healthy = await ws_connect(server.ws_url())  # answers pings by itself
        await eventually(lambda: server.connected() == 2, what="2 clients connected")
        await eventually(lambda: server.connected() == 1, what="1 client connected")
        await server.publisher.publish("alert.raid", {"viewers": 3})
        assert (await receive_json(healthy))["event"] == "alert.raid"
        dead.close()


async def test_oversized_inbound_frame_closes_that_client_only(
    tmp_path: Path, redis_url: str, ws_connect: Connect
) -> None:
    async with run_streamcore(tmp_path, redis_url, ws_inbound_max_bytes=1024) as server:
        bad = await ws_connect(server.ws_url())
        good = await ws_connect(server.ws_url())
        await eventually(lambda: server.connected() == 2, what="2 clients connected")
        await bad.send(json.dumps({"op": "ping", "pad": "x" * 2000}))
        await asyncio.wait_for(bad.wait_closed(), 10)
        assert bad.close_code == 1008 and "too big" in (bad.close_reason or "")
        await server.publisher.publish("alert.cheer", {"bits": 100})
        assert (await receive_json(good))["event"] == "alert.cheer"


async def test_flooding_or_garbage_inbound_closes_that_client_with_1008(
    tmp_path: Path, redis_url: str, ws_connect: Connect
) -> None:
    async with run_streamcore(tmp_path, redis_url, ws_inbound_rate=1, ws_inbound_burst=5) as server:
        flooder = await ws_connect(server.ws_url())
        garbage = await ws_connect(server.ws_url())
        pinger = await ws_connect(server.ws_url())
        await eventually(lambda: server.connected() == 3, what="3 clients connected")
        for _ in range(50):
            await flooder.send('{"op": "ping"}')
        await garbage.send("not json at all")
        await pinger.send('{"op": "ping"}')
        assert (await receive_json(pinger))["event"] == "system.pong"
        for ws, words in ((flooder, "too many"), (garbage, "JSON")):
            await asyncio.wait_for(ws.wait_closed(), 10)
            assert ws.close_code == 1008 and words in (ws.close_reason or "")
        await server.publisher.publish("alert.gift", {"count": 5})
        assert (await receive_json(pinger))["event"] == "alert.gift"
