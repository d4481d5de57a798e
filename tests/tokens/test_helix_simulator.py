"""The Helix client's convenience methods against the simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from bus.base import Bus
from db_infrastructure.base import Store
from tests.tokens.conftest import make_manager, seed_token, settings_for
from tokens.errors import HelixConflict, HelixForbidden, HelixNotFound
from tokens.helix import HelixClient

SCOPES = ["bits:read", "user:read:chat", "user:write:chat"]


@pytest.fixture
async def helix(
    sim: Any, store: Store, memory_bus: Bus, http: httpx.AsyncClient, tmp_path: Path
) -> HelixClient:
    settings = settings_for(sim, tmp_path)
    await seed_token(sim, store, SCOPES)
    manager = make_manager(settings, store, memory_bus, http, SCOPES)
    await manager.start()
    return HelixClient(settings, manager, http)


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_get_users_returns_the_token_user_and_users_by_login(
    sim: Any, helix: HelixClient
) -> None:
    me = await helix.get_users()
    assert [u["id"] for u in me] == [sim.users["broadcaster"].id]
    by_login = await helix.get_users(logins=[sim.users["moderator"].login])
    assert by_login[0]["id"] == sim.users["moderator"].id


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_send_chat_message_defaults_to_the_token_user_and_checks_is_sent(
    helix: HelixClient,
) -> None:
    result = await helix.send_chat_message("hello from StreamCore")
    assert result["is_sent"] is True
    assert result["message_id"]


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
async def test_eventsub_subscriptions_are_created_listed_and_deleted(
    sim: Any, helix: HelixClient
) -> None:
    broadcaster = sim.users["broadcaster"].id
    async with connect(sim.ws_url) as socket:
        welcome = json.loads(await socket.recv())
        session_id = welcome["payload"]["session"]["id"]
        transport = {"method": "websocket", "session_id": session_id}
        condition = {"broadcaster_user_id": broadcaster}

        created = await helix.create_eventsub_subscription(
            "channel.cheer", "1", condition, transport
        )
        assert created["status"] == "enabled" and created["type"] == "channel.cheer"

        with pytest.raises(HelixConflict):
            await helix.create_eventsub_subscription("channel.cheer", "1", condition, transport)
        with pytest.raises(HelixForbidden) as caught:  # the token lacks channel:read:subscriptions
            await helix.create_eventsub_subscription("channel.subscribe", "1", condition, transport)
        assert caught.value.missing_scope == "channel:read:subscriptions"
        assert "/tokens/link" in str(caught.value)

        listed = await helix.list_eventsub_subscriptions(type="channel.cheer")
        assert [s["id"] for s in listed] == [created["id"]]
        assert await helix.list_eventsub_subscriptions(status="enabled", type="channel.cheer")

        await helix.delete_eventsub_subscription(created["id"])
        with pytest.raises(HelixNotFound):
            await helix.delete_eventsub_subscription(created["id"])
        remaining = await helix.list_eventsub_subscriptions(status="enabled")
        assert created["id"] not in [s["id"] for s in remaining]
