"""Events carry their channel; `?channel=` and channel-bound keys keep channels apart, live and
replayed, against a real StreamCore on Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from core.channels import ChannelTag, channel_of
from events.broadcaster import Broadcaster
from events.clients import Client
from events.filters import ALL_EVENTS
from events.frames import Outgoing
from events.keys import ClientKeys
from tests.events.conftest import Connect, Server, receive_json, run_streamcore
from tokens.model import TokenSet

ADA = ChannelTag("1001", "ada")
GRACE = ChannelTag("1002", "grace")


async def add_channel(server: Server, tag: ChannelTag) -> None:
    """The record an authorization leaves (TokenManager.adopt)."""
    token = TokenSet("access", "refresh", None, ["bits:read"], tag.id, tag.login)
    await server.services.tokens.channels.record_authorized(token)


@pytest.fixture
async def two_channels(tmp_path: Path, redis_url: str) -> AsyncIterator[Server]:
    async with run_streamcore(tmp_path, redis_url) as server:
        await add_channel(server, ADA)
        await add_channel(server, GRACE)
        yield server


async def nothing_more(ws: ClientConnection, within_s: float = 0.5) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), within_s)
    except TimeoutError:
        return True
    return False


async def test_the_envelope_names_the_channel_and_system_events_name_none(
    two_channels: Server, ws_connect: Connect
) -> None:
    ws = await ws_connect(two_channels.ws_url())
    publisher = two_channels.publisher
    await publisher.publish("alert.follow", {"n": 1}, channel=ADA)
    await publisher.publish("system.note", {"n": 2})
    first, second = await receive_json(ws), await receive_json(ws)
    assert first["channel"] == {"id": "1001", "login": "ada"}
    assert "channel" not in second
    assert set(second) == {"event", "data", "id", "ts"}


async def test_channel_filter_by_login_or_id_keeps_only_that_channel_and_system_events(
    two_channels: Server, ws_connect: Connect
) -> None:
    by_login = await ws_connect(two_channels.ws_url("channel=ADA"))  # logins: any case
    by_id = await ws_connect(two_channels.ws_url("channel=1002"))
    everyone = await ws_connect(two_channels.ws_url())
    publisher = two_channels.publisher
    await publisher.publish("alert.follow", {"to": "ada"}, channel=ADA)
    await publisher.publish("alert.follow", {"to": "grace"}, channel=GRACE)
    await publisher.publish("system.gateway", {"state": "connected"})
    assert [(await receive_json(by_login))["data"] for _ in range(2)] == [
        {"to": "ada"},
        {"state": "connected"},
    ]
    assert [(await receive_json(by_id))["data"] for _ in range(2)] == [
        {"to": "grace"},
        {"state": "connected"},
    ]
    assert len([await receive_json(everyone) for _ in range(3)]) == 3
    assert await nothing_more(by_login) and await nothing_more(by_id)


async def test_an_unknown_channel_closes_4000(two_channels: Server, ws_connect: Connect) -> None:
    ws = await ws_connect(two_channels.ws_url("channel=nobody"))
    await asyncio.wait_for(ws.wait_closed(), 10)
    assert ws.close_code == 4000
    assert "unknown channel" in (ws.close_reason or "")


async def test_replay_keeps_to_the_channel(two_channels: Server, ws_connect: Connect) -> None:
    publisher = two_channels.publisher
    start = await publisher.publish("system.start", {})
    for n in range(3):
        await publisher.publish("alert.follow", {"n": n}, channel=ADA)
        await publisher.publish("alert.follow", {"n": n}, channel=GRACE)
    ws = await ws_connect(two_channels.ws_url(f"channel=grace&since={start}"))
    replayed = [await receive_json(ws) for _ in range(3)]
    assert [e["data"]["n"] for e in replayed] == [0, 1, 2]
    assert {e["channel"]["login"] for e in replayed} == {"grace"}
    assert await nothing_more(ws)


async def create_key(server: Server, channels: list[str]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        answer = await http.post("/keys", json={"name": "ada-overlay", "channels": channels})
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


async def test_a_key_bound_to_a_channel_never_gets_another_channels_events(
    two_channels: Server, ws_connect: Connect
) -> None:
    created = await create_key(two_channels, ["ada"])
    assert created["channels"] == "1001"
    key = created["key"]
    publisher = two_channels.publisher
    start = await publisher.publish("system.start", {})
    await publisher.publish("alert.follow", {"to": "grace", "when": "before"}, channel=GRACE)
    await publisher.publish("alert.follow", {"to": "ada", "when": "before"}, channel=ADA)
    # Replayed and live, with no ?channel=: only Ada's.
    ws = await ws_connect(two_channels.ws_url(f"key={key}&since={start}"))
    assert (await receive_json(ws))["data"] == {"to": "ada", "when": "before"}
    await publisher.publish("alert.follow", {"to": "grace", "when": "live"}, channel=GRACE)
    await publisher.publish("alert.follow", {"to": "ada", "when": "live"}, channel=ADA)
    assert (await receive_json(ws))["data"] == {"to": "ada", "when": "live"}
    assert await nothing_more(ws)
    # Asking for Grace with Ada's key is refused.
    refused = await ws_connect(two_channels.ws_url(f"key={key}&channel=grace"))
    await asyncio.wait_for(refused.wait_closed(), 10)
    assert refused.close_code == 4003


async def test_keys_name_known_channels_only(two_channels: Server) -> None:
    async with httpx.AsyncClient(base_url=two_channels.http_url) as http:
        answer = await http.post("/keys", json={"name": "x", "channels": ["nobody"]})
    assert answer.status_code == 400
    assert "unknown channel" in answer.json()["detail"]
    records = await ClientKeys(two_channels.services.store).list()
    assert records == []


async def test_keys_made_before_channels_get_every_channel(
    two_channels: Server, ws_connect: Connect
) -> None:
    key, record = await ClientKeys(two_channels.services.store).create("old")
    assert record.channels == "*" and record.channel_ids is None
    ws = await ws_connect(two_channels.ws_url(f"key={key}"))
    await two_channels.publisher.publish("alert.follow", {}, channel=ADA)
    await two_channels.publisher.publish("alert.follow", {}, channel=GRACE)
    got = [(await receive_json(ws))["channel"]["login"] for _ in range(2)]
    assert got == ["ada", "grace"]


class CountingSink:
    def __init__(self) -> None:
        self.written = 0

    def try_write(self, event: Outgoing) -> bool:
        self.written += 1
        return True

    async def send(self, event: Outgoing) -> None:
        self.written += 1

    def abort(self) -> None:
        pass


async def test_a_channels_event_is_offered_only_to_its_audience(redis_url: str) -> None:
    """The index: other channels' clients are never even looked at."""
    from bus.memory import MemoryBus

    broadcaster = Broadcaster(MemoryBus(), 100, 3600)
    looked_at: list[str] = []

    class Watched:
        def __init__(self, label: str) -> None:
            self.label = label

        def matches(self, name: str) -> bool:
            looked_at.append(self.label)
            return True

    clients = []
    for label, channels in [("a", frozenset({"1"})), ("b", frozenset({"2"})), ("all", None)]:
        client = Client(CountingSink(), Watched(label), 10, 10_000, channels=channels)
        broadcaster.add(client)
        clients.append(client)
    broadcaster.fan_out(Outgoing("alert.follow", "1-1", "{}", channel="1"))
    assert sorted(looked_at) == ["a", "all"]
    looked_at.clear()
    broadcaster.fan_out(Outgoing("system.gateway", "1-2", "{}"))
    assert sorted(looked_at) == ["a", "all", "b"]
    broadcaster.remove(clients[0])
    looked_at.clear()
    broadcaster.fan_out(Outgoing("alert.follow", "1-3", "{}", channel="1"))
    assert looked_at == ["all"]
    assert ALL_EVENTS.matches("anything")


def test_the_channel_of_a_notification_is_its_conditions_broadcaster() -> None:
    follow = {
        "subscription": {
            "type": "channel.follow",
            "condition": {"broadcaster_user_id": "1001", "moderator_user_id": "1001"},
        },
        "event": {"broadcaster_user_id": "1001", "broadcaster_user_login": "ada"},
    }
    assert channel_of(follow) == ADA
    raid_in = {
        "subscription": {"condition": {"to_broadcaster_user_id": "1002"}},
        "event": {"to_broadcaster_user_login": "grace", "from_broadcaster_user_login": "x"},
    }
    assert channel_of(raid_in) == GRACE
    assert channel_of({"subscription": {"condition": {}}, "event": {}}) is None
    assert channel_of("not a payload") is None


class RecordingSink(CountingSink):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str | None] = []

    def try_write(self, event: Outgoing) -> bool:
        self.ids.append(event.id)
        return True


async def test_after_a_replay_the_tail_catching_up_delivers_nothing_twice() -> None:
    """The tail reads in batches, so it may fan out an event the replay already sent: the
    client drops what is not newer than its replay, then takes everything newer."""
    events = [Outgoing("alert.follow", f"17000000000{n:02d}-0", "{}") for n in range(4)]
    # The tail was behind: nothing arrived during the replay, which sent events 0 and 1.
    lagging = RecordingSink()
    client = Client(lagging, ALL_EVENTS, 10, 10_000, replaying=True)
    client.go_live(events[1].key)
    for event in events:
        client.offer(event)
    assert lagging.ids == [events[2].id, events[3].id]
    # The tail was ahead: 0 to 2 arrived during the replay and were held.
    ahead = RecordingSink()
    client = Client(ahead, ALL_EVENTS, 10, 10_000, replaying=True)
    for event in events[:3]:
        client.offer(event)
    client.go_live(events[1].key)
    client.offer(events[3])
    assert ahead.ids == [events[2].id, events[3].id]
