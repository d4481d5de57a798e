"""Subscribing against the simulator: deadline, orphans, 409, 403, and no 4003 loop."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from bus.redis import RedisBus
from simulator.catalogue import lookup
from simulator.events import SUPPORTED_TYPES
from tests.gateway.harness import fast_options, running_gateway
from tests.polling import eventually
from tests.tokens.conftest import seed_token


def thirty_subscriptions(broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
    """30 distinct subscriptions the broadcaster's token may create, at no cost."""
    wanted: list[dict[str, Any]] = []
    for sub_type, version in SUPPORTED_TYPES.items():
        rules = lookup(sub_type, version)
        if rules is None or not rules.scopes:
            continue
        condition = {field: broadcaster_id for field in rules.required}
        wanted.append({"type": sub_type, "version": version, "condition": condition})
    assert len(wanted) >= 30
    return wanted[:30]


async def test_thirty_subscriptions_are_created_inside_the_deadline(
    sim: Any, redis_bus: RedisBus, tmp_path: Path
) -> None:
    # Twitch's default keepalive (10 s) is the subscribe deadline; a miss would close 4003.
    options = fast_options(keepalive_timeout_s=None)
    async with running_gateway(
        sim, redis_bus, tmp_path, thirty_subscriptions, options=options
    ) as run:
        session = await run.wait_subscribed(30, within_s=15)
        assert run.gateway.reconnects == {}
        assert sim.state.sessions[session].is_open
        assert {s["status"] for s in run.gateway.status()["subscriptions"]} == {"enabled"}


async def _helix(sim: Any, token: str, method: str, path: str, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        headers = {"Client-Id": sim.client_id, "Authorization": f"Bearer {token}"}
        return await client.request(method, f"{sim.api_url}/{path}", headers=headers, **kw)


async def test_orphans_of_earlier_sessions_are_deleted_at_start(
    sim: Any, redis_bus: RedisBus, tmp_path: Path
) -> None:
    token = (await sim.issue_token("broadcaster"))["access_token"]
    me = sim.users["broadcaster"].id
    follow = {"broadcaster_user_id": me, "moderator_user_id": me}

    async def subscribe(session_id: str, sub_type: str, version: str, condition: Any) -> None:
        body = {"type": sub_type, "version": version, "condition": condition,
                "transport": {"method": "websocket", "session_id": session_id}}  # fmt: skip
        response = await _helix(sim, token, "POST", "eventsub/subscriptions", json=body)
        assert response.status_code == 202, response.text

    # A session that ended (its subscriptions are disabled) and one still open elsewhere.
    async with connect(sim.ws_url) as gone:
        gone_id = json.loads(await gone.recv())["payload"]["session"]["id"]
        await subscribe(gone_id, "channel.follow", "2", follow)
    live = await connect(sim.ws_url)
    try:
        live_id = json.loads(await live.recv())["payload"]["session"]["id"]
        await subscribe(live_id, "channel.subscribe", "1", {"broadcaster_user_id": me})
        async with running_gateway(sim, redis_bus, tmp_path) as run:
            session = await run.wait_subscribed(2)

            def only_ours() -> bool:
                mine = sim.state.subscriptions.owned_by(sim.client_id, me)
                return {s.session_id for s in mine} == {session} and len(mine) == 2

            await eventually(only_ours, what="orphans deleted")
    finally:
        await live.close()


async def test_409_adopts_the_existing_subscription(
    sim: Any, redis_bus: RedisBus, tmp_path: Path
) -> None:
    raced: list[str] = []

    async def someone_else_creates_it_first(request: httpx.Request) -> None:
        # The race a 409 means: the same subscription appears between our list and our POST.
        if request.method == "POST" and request.url.path.endswith("eventsub/subscriptions"):
            body = json.loads(request.content)
            if body["type"] == "channel.cheer" and not raced:
                raced.append(body["type"])
                async with httpx.AsyncClient(timeout=10) as client:
                    created = await client.post(
                        str(request.url), headers=dict(request.headers), json=body
                    )
                raced.append(created.json()["data"][0]["id"])

    async with running_gateway(
        sim, redis_bus, tmp_path, http_hooks=[someone_else_creates_it_first]
    ) as run:
        await run.wait_subscribed(2)
        cheer = next(
            s for s in run.gateway.status()["subscriptions"] if s["type"] == "channel.cheer"
        )
        assert cheer["status"] == "enabled" and cheer["twitch_id"] == raced[1]
        sent = await run.trigger("channel.cheer")
        assert await run.wait_stream("channel.cheer", 1) == sent


async def test_403_fails_one_subscription_and_the_others_work(
    sim: Any, redis_bus: RedisBus, tmp_path: Path
) -> None:
    scopes = ["moderator:read:followers"]  # bits:read (channel.cheer) is missing
    async with running_gateway(sim, redis_bus, tmp_path, scopes=scopes) as run:
        await run.wait_subscribed(1)
        # The two creations run in parallel: the follow may be enabled while the cheer's
        # answer (403) is still on its way. Wait for it to settle, then assert.

        def settled() -> dict[str, dict[str, Any]] | None:
            found = {s["type"]: s for s in run.gateway.status()["subscriptions"]}
            return found if found["channel.cheer"]["status"] != "pending" else None

        statuses = await eventually(settled, what="the cheer's creation answered")
        assert statuses is not None
        assert statuses["channel.follow"]["status"] == "enabled"
        assert statuses["channel.cheer"]["status"] == "failed"
        assert "bits:read" in statuses["channel.cheer"]["reason"]
        sent = await run.trigger("channel.follow", count=2)
        assert await run.wait_stream("channel.follow", 2) == sent


async def test_no_socket_is_held_when_nothing_can_be_subscribed(
    sim: Any, redis_bus: RedisBus, tmp_path: Path
) -> None:
    async with running_gateway(sim, redis_bus, tmp_path, scopes=[]) as run:
        await eventually(
            lambda: run.gateway.reason is not None and "permanently" in run.gateway.reason,
            what="gateway waiting for a fix",
        )
        sessions = len(sim.state.sessions)
        assert all(s.close_code != 4003 for s in sim.state.sessions.values())
        await asyncio.sleep(1.0)  # backing off, not hot-looping (its cap is 0.5 s here)
        assert len(sim.state.sessions) == sessions == 1
        # The user authorizes again with the right scopes: the gateway heals by itself.
        await run.tokens.mark_auth_required("test: re-authorizing")
        await seed_token(sim, run.gateway_store, list(sim.users["broadcaster"].default_scopes))
        await run.wait_subscribed(2, within_s=15)
