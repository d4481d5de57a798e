"""Hostile /ws/events clients on a real StreamCore (uvicorn, Redis): each gets a close code with
a reason, and the server keeps serving everyone else."""

from __future__ import annotations

import json
from pathlib import Path

from tests.events.conftest import Server, run_streamcore
from tests.polling import eventually
from tests.rawws import TEXT, RawClient, close_code


async def _still_serving(server: Server, client: RawClient) -> None:
    """`client` receives a published event and is answered when it pings."""
    await server.publisher.publish("alert.follow", {"user": "still-here"})
    opcode, payload = await client.read_frame(timeout=10)
    assert opcode == TEXT and json.loads(payload)["data"] == {"user": "still-here"}
    await client.send_text('{"op": "ping"}')
    opcode, payload = await client.read_frame(timeout=10)
    assert json.loads(payload)["event"] == "system.pong"


async def test_deeply_nested_frame_closes_that_client_1008_and_the_others_are_served(
    tmp_path: Path, redis_url: str
) -> None:
    async with run_streamcore(tmp_path, redis_url) as server:
        bystander = await RawClient.connect(server.port, "/ws/events")
        attacker = await RawClient.connect(server.port, "/ws/events")
        await eventually(lambda: server.connected() == 2, what="2 clients connected")
        # 4000 bytes: under WS_INBOUND_MAX_BYTES, and deep enough to exhaust json.loads.
        await attacker.send_text("[" * 4000)
        try:
            frames = await attacker.read_frames_until_close(timeout=5)
        except TimeoutError:
            frames = []  # the old reader died silently: no close frame ever came
        code = close_code(frames)
        assert code is not None, "no close frame: the client's reader died without a word"
        assert code[0] == 1008 and "nested more than 64 levels" in code[1]
        attacker.close()
        await eventually(lambda: server.connected() == 1, what="the attacker unregistered")
        await _still_serving(server, bystander)
        newcomer = await RawClient.connect(server.port, "/ws/events")
        await eventually(lambda: server.connected() == 2, what="a new client served")
        await _still_serving(server, newcomer)
        bystander.close()
        newcomer.close()


async def test_since_beyond_redis_stream_ids_closes_4000_with_a_reason(
    tmp_path: Path, redis_url: str
) -> None:
    async with run_streamcore(tmp_path, redis_url) as server:
        bad = await RawClient.connect(server.port, "/ws/events?since=99999999999999999999-0")
        frames = await bad.read_frames_until_close(timeout=10)
        code = close_code(frames)
        assert code is not None, "no close frame: the Redis error escaped the handler"
        assert code[0] == 4000 and "since" in code[1] and "18446744073709551615" in code[1]
        bad.close()
        good = await RawClient.connect(server.port, "/ws/events?since=0")
        await eventually(lambda: server.connected() == 1, what="a client with a valid since")
        await _still_serving(server, good)
        good.close()
