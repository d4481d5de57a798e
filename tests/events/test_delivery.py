"""Delivery through a real StreamCore on Redis: envelopes, raw PUBLISH, filters."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import REDIS_TEST_URL
from tests.events.conftest import Connect, Server, receive_json
from tests.polling import eventually


async def test_published_event_reaches_every_client_as_the_envelope(
    streamcore: Server, ws_connect: Connect
) -> None:
    first = await ws_connect(streamcore.ws_url())
    second = await ws_connect(streamcore.ws_url())
    await eventually(lambda: streamcore.connected() == 2, what="2 clients connected")
    event_id = await streamcore.publisher.publish("alert.follow", {"user": "ada"})
    for ws in (first, second):
        frame = await receive_json(ws)
        assert frame["event"] == "alert.follow"
        assert frame["data"] == {"user": "ada"}
        assert frame["id"] == event_id
        assert set(frame) == {"event", "data", "id", "ts"}


async def test_raw_publish_from_redis_cli_is_wrapped_in_an_envelope(
    streamcore: Server, ws_connect: Connect
) -> None:
    ws = await ws_connect(streamcore.ws_url())
    await eventually(lambda: streamcore.connected() == 1, what="1 client connected")
    raw = streamcore.services.broadcaster.raw  # type: ignore[union-attr]
    # Only the coordinator wraps raw messages; this replica becomes it at start-up.
    await eventually(lambda: raw is not None and raw.listening, what="raw messages listened to")
    for payload in ('{"x":1}', "plain text"):
        redis_cli = await asyncio.create_subprocess_exec(
            *("redis-cli", "-u", REDIS_TEST_URL, "PUBLISH", "events:foo", payload),
            stdout=asyncio.subprocess.DEVNULL,
        )
        assert await asyncio.wait_for(redis_cli.wait(), 10) == 0
    json_frame = await receive_json(ws)
    text_frame = await receive_json(ws)
    assert (json_frame["event"], json_frame["data"]) == ("foo", {"x": 1})
    assert (text_frame["event"], text_frame["data"]) == ("foo", "plain text")
    assert json_frame["id"] and text_frame["id"] and json_frame["id"] != text_frame["id"]
    # The wrapped message is retained, so it replays like any other event.
    replay = await ws_connect(streamcore.ws_url("since=0"))
    replayed = [await receive_json(replay), await receive_json(replay)]
    assert [frame["id"] for frame in replayed] == [json_frame["id"], text_frame["id"]]


async def test_filters_deliver_only_matching_events(
    streamcore: Server, ws_connect: Connect
) -> None:
    words = await ws_connect(streamcore.ws_url("events=follow,chat"))
    alerts = await ws_connect(streamcore.ws_url("events=alert.*"))
    everything = await ws_connect(streamcore.ws_url())
    await eventually(lambda: streamcore.connected() == 3, what="3 clients connected")
    names = ["alert.follow", "chat.message", "alert.sub", "stream.online", "alert.resub"]
    for name in names:
        await streamcore.publisher.publish(name, {})

    async def names_received(ws, count: int) -> list[str]:
        return [(await receive_json(ws))["event"] for _ in range(count)]

    assert await names_received(words, 2) == ["alert.follow", "chat.message"]
    assert await names_received(alerts, 3) == ["alert.follow", "alert.sub", "alert.resub"]
    assert await names_received(everything, 5) == names
    # Nothing else is pending for the filtered clients.
    await streamcore.publisher.publish("chat.message", {"end": True})
    assert (await receive_json(words))["data"] == {"end": True}


async def test_invalid_filter_closes_with_4000_and_a_reason(
    streamcore: Server, ws_connect: Connect
) -> None:
    ws = await ws_connect(streamcore.ws_url("events=a%20b"))
    await asyncio.wait_for(ws.wait_closed(), 10)
    assert ws.close_code == 4000
    assert "filter" in (ws.close_reason or "")


async def test_schema_lists_system_events(streamcore: Server) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        response = await http.get(streamcore.http_url + "/events/schema")
    names = {event["name"] for event in response.json()["events"]}
    assert {"system.replay_truncated", "system.gateway", "system.subscription.revoked"} <= names
    assert json.dumps(response.json())
