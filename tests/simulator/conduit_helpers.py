"""Plain Helix calls for the conduit tests: an app token, conduits, shards, subscriptions.

An app access token comes from the client-credentials grant, exactly as on Twitch:
`POST /oauth2/token` with client_id, client_secret and grant_type=client_credentials.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx

from tests.simulator.helpers import EventSubClient, eventsub, helix, oauth

#: Twitch's HTTP status text, which the error body carries in `error`.
REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
REASONS |= {409: "Conflict", 429: "Too Many Requests"}


async def app_token(sim: Any) -> str:
    async with oauth(sim) as client:
        response = await client.post(
            "/token",
            data={
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "grant_type": "client_credentials",
            },
        )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@asynccontextmanager
async def app_api(sim: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A Helix client carrying a fresh app access token."""
    async with helix(sim, await app_token(sim)) as api:
        yield api


def assert_error(response: httpx.Response, status: int) -> None:
    """Twitch's error body: {"error": <status text>, "status": <code>, "message": <text>}."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == REASONS[status] and body["status"] == status
    assert isinstance(body["message"], str) and body["message"]


async def create_conduit(api: httpx.AsyncClient, shard_count: int) -> str:
    response = await api.post("/eventsub/conduits", json={"shard_count": shard_count})
    assert response.status_code == 200, response.text
    return str(response.json()["data"][0]["id"])


async def assign(
    api: httpx.AsyncClient, conduit_id: str, sessions: dict[str, str]
) -> httpx.Response:
    """Update Conduit Shards: shard id -> WebSocket session id."""
    shards = [
        {"id": shard_id, "transport": {"method": "websocket", "session_id": session_id}}
        for shard_id, session_id in sessions.items()
    ]
    return await api.patch(
        "/eventsub/conduits/shards", json={"conduit_id": conduit_id, "shards": shards}
    )


async def subscribe_conduit(
    api: httpx.AsyncClient,
    conduit_id: str,
    sub_type: str,
    condition: dict[str, str],
    version: str = "1",
) -> httpx.Response:
    body = {
        "type": sub_type,
        "version": version,
        "condition": condition,
        "transport": {"method": "conduit", "conduit_id": conduit_id},
    }
    return await api.post("/eventsub/subscriptions", json=body)


async def shards_of(api: httpx.AsyncClient, conduit_id: str) -> list[dict[str, Any]]:
    response = await api.get("/eventsub/conduits/shards", params={"conduit_id": conduit_id})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


@asynccontextmanager
async def sockets(sim: Any, count: int) -> AsyncIterator[list[tuple[EventSubClient, str]]]:
    """`count` EventSub sockets, each with its welcome read: [(client, session id)]."""
    async with AsyncExitStack() as stack:
        opened = []
        for _ in range(count):
            client = await stack.enter_async_context(eventsub(sim.ws_url))
            opened.append((client, await client.welcome()))
        yield opened


@asynccontextmanager
async def sharded_conduit(
    sim: Any, shard_count: int
) -> AsyncIterator[tuple[httpx.AsyncClient, str, list[tuple[EventSubClient, str]]]]:
    """A conduit whose every shard has its own socket: (app api, conduit id, [(client, id)])."""
    async with app_api(sim) as api, sockets(sim, shard_count) as opened:
        conduit_id = await create_conduit(api, shard_count)
        response = await assign(api, conduit_id, {str(i): s for i, (_, s) in enumerate(opened)})
        assert response.status_code == 202 and response.json()["errors"] == [], response.text
        yield api, conduit_id, opened
