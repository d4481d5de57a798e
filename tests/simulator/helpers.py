"""Plain `websockets` + `httpx` clients for the simulator tests (no StreamCore code).

Everything waits on conditions with generous timeouts (polling with `tests.polling.eventually`);
nothing uses a fixed sleep as proof.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

#: Generous: a loaded 2-core CI machine may be slow, never wrong.
WAIT_S = 10.0


class EventSubClient:
    """A plain WebSocket client that records what the simulator sends."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.received: list[tuple[float, dict[str, Any]]] = []

    async def next(self, within: float = WAIT_S) -> dict[str, Any]:
        message = json.loads(await asyncio.wait_for(self.connection.recv(), within))
        self.received.append((time.monotonic(), message))
        return message

    async def next_of(self, message_type: str, within: float = WAIT_S) -> dict[str, Any]:
        """The next message of this type, skipping keepalives (and anything else) before it."""
        async with asyncio.timeout(within):
            while True:
                message = await self.next(within)
                if message["metadata"]["message_type"] == message_type:
                    return message

    async def closed_with(self, within: float = WAIT_S) -> int:
        """Read until the server closes the socket; the close code it sent."""
        try:
            async with asyncio.timeout(within):
                while True:
                    await self.next(within)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "the connection dropped without a close frame"
            return closed.rcvd.code
        raise AssertionError("unreachable")

    async def welcome(self) -> str:
        message = await self.next()
        assert message["metadata"]["message_type"] == "session_welcome"
        return str(message["payload"]["session"]["id"])


@asynccontextmanager
async def eventsub(url: str) -> AsyncIterator[EventSubClient]:
    async with connect(url, open_timeout=WAIT_S) as connection:
        yield EventSubClient(connection)


def helix(
    sim: Any, access_token: str | None = None, client_id: str | None = None
) -> httpx.AsyncClient:
    headers = {"Client-Id": client_id or sim.client_id}
    if access_token is not None:
        headers["Authorization"] = f"Bearer {access_token}"
    return httpx.AsyncClient(base_url=sim.api_url, headers=headers, timeout=WAIT_S)


def control(sim: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=sim.http_url + "/control", timeout=WAIT_S)


def oauth(sim: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=sim.auth_url, timeout=WAIT_S)


async def subscribe(
    api: httpx.AsyncClient,
    session_id: str,
    sub_type: str,
    condition: dict[str, str],
    version: str = "1",
) -> httpx.Response:
    body = {
        "type": sub_type,
        "version": version,
        "condition": condition,
        "transport": {"method": "websocket", "session_id": session_id},
    }
    return await api.post("/eventsub/subscriptions", json=body)


def follow_condition(sim: Any) -> dict[str, str]:
    broadcaster = sim.users["broadcaster"].id
    return {"broadcaster_user_id": broadcaster, "moderator_user_id": broadcaster}


@asynccontextmanager
async def subscribed_follow(
    sim: Any, url: str | None = None
) -> AsyncIterator[tuple[EventSubClient, str, httpx.AsyncClient]]:
    """A socket with one channel.follow v2 subscription: (client, session id, helix client)."""
    token = (await sim.issue_token("broadcaster"))["access_token"]
    async with helix(sim, token) as api, eventsub(url or sim.ws_url) as client:
        session_id = await client.welcome()
        response = await subscribe(api, session_id, "channel.follow", follow_condition(sim), "2")
        assert response.status_code == 202, response.text
        yield client, session_id, api
