"""TWITCH_EVENTSUB_TRANSPORT=conduit end to end against the simulator, on Redis and PostgreSQL:
the conduit is created once and adopted after a restart, this replica's shard sessions are
assigned, subscriptions are made with the app token, and events flow through a shard."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import httpx

from simulator.conduits import shard_index
from tests.polling import eventually
from tests.system.test_system_flow import WAIT_S, Deployment, authorize, deploy

# The default STREAMCORE_LEASE_S (5 s): a shorter one lost both shard leases to a 1 s stall
# of this process (app, simulator and test share one event loop) on a loaded CI machine.
CONDUIT = {"twitch_eventsub_transport": "conduit", "streamcore_shards": 2}


async def sim_get(deployment: Deployment, path: str) -> Any:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{deployment.sim.http_url}/control/{path}")).json()


async def conduit_ready(deployment: Deployment) -> dict[str, Any]:
    """Wait for both shards assigned and channel.follow enabled; returns the gateway status.

    A shard reads "connected" from its welcome on, but it is assigned only once the PATCH that
    follows has answered (reason "subscribed", or "reconnected" after a hand-over that keeps the
    assignment): until then Twitch shows it unassigned."""

    async def ready() -> dict[str, Any] | None:
        status = (await deployment.api.get("/system/status")).json()
        gateway = status["gateway"]
        shards = gateway.get("shards") or {}
        enabled = any(
            s["type"] == "channel.follow" and s["status"] == "enabled"
            for s in status["subscriptions"]
        )
        connected = len(shards) == 2 and all(
            s["state"] == "connected" and s["reason"] in ("subscribed", "reconnected")
            for s in shards.values()
        )
        return gateway if connected and enabled else None

    gateway = await eventually(ready, within_s=WAIT_S, what="conduit ready")
    assert gateway is not None
    return gateway


async def test_the_conduit_is_made_once_its_shards_assigned_and_events_flow(
    tmp_path: Path,
) -> None:
    async with deploy(tmp_path, **CONDUIT) as deployment:
        await authorize(deployment)
        assert (await deployment.api.post("/system/start")).json() == {"status": "started"}
        gateway = await conduit_ready(deployment)
        assert gateway["transport"] == "conduit"
        conduits = (await sim_get(deployment, "conduits"))["data"]
        assert [c["id"] for c in conduits] == [gateway["conduit_id"]]
        assert {s["status"] for s in conduits[0]["shards"]} == {"enabled"}
        subs = (await sim_get(deployment, "subscriptions"))["data"]
        on_conduit = [s for s in subs if s["transport"]["method"] == "conduit"]
        assert {s["type"] for s in on_conduit} >= {"channel.follow", "conduit.shard.disabled"}
        assert all(s["transport"]["conduit_id"] == gateway["conduit_id"] for s in on_conduit)

        runtime = deployment.app.state.services
        async with runtime.bus.psubscribe("events:alert.follow") as alerts:
            await deployment.sim.trigger("channel.follow", event={"user_name": "Ada"})
            message = await asyncio.wait_for(alerts.get(), 10)
        assert json.loads(message.data)["data"]["user"]["name"] == "Ada"

        # A restart of the system adopts the stored conduit instead of making another; so does
        # one that lost the stored id (the client's existing conduit is adopted: none leaks).
        for forget in (False, True):
            assert (await deployment.api.post("/system/stop")).json() == {"status": "stopped"}
            if forget:
                await runtime.store.delete("cluster", "conduit")
            await deployment.api.post("/system/start")
            again = await conduit_ready(deployment)
            assert again["conduit_id"] == gateway["conduit_id"]
            conduits = (await sim_get(deployment, "conduits"))["data"]
            assert [c["id"] for c in conduits] == [gateway["conduit_id"]]


async def test_a_lost_shard_session_is_replaced_and_nothing_is_lost(tmp_path: Path) -> None:
    async with deploy(tmp_path, **CONDUIT) as deployment:
        await authorize(deployment)
        await deployment.api.post("/system/start")
        gateway = await conduit_ready(deployment)
        # The shard Twitch routes this channel's events to: they must be retried on the other.
        shard = str(shard_index(deployment.sim.users["broadcaster"].id, 2))
        victim = gateway["shards"][shard]["session_id"]
        runtime = deployment.app.state.services
        names = [f"viewer{i}" for i in range(20)]
        async with runtime.bus.psubscribe("events:alert.follow") as alerts:
            async with httpx.AsyncClient() as client:
                closed = await client.post(
                    f"{deployment.sim.http_url}/control/sessions/{victim}/close",
                    json={"code": 4000},
                )
                assert closed.status_code == 200, closed.text
            for name in names:
                await deployment.sim.trigger("channel.follow", event={"user_name": name})
            received: list[str] = []
            while len(received) < len(names):
                message = await asyncio.wait_for(alerts.get(), 10)
                received.append(json.loads(message.data)["data"]["user"]["name"])
            replaced = await conduit_ready(deployment)
            with contextlib.suppress(TimeoutError):  # nothing doubled arrives afterwards
                message = await asyncio.wait_for(alerts.get(), 1)
                received.append(json.loads(message.data)["data"]["user"]["name"])
        assert sorted(received) == sorted(names)
        assert replaced["shards"][shard]["session_id"] != victim
        conduit = (await sim_get(deployment, "conduits"))["data"][0]
        assert conduit["dropped"] == 0


async def test_chat_over_a_conduit_asks_the_broadcaster_for_the_bot_scopes(tmp_path: Path) -> None:
    # Twitch requires user:bot and channel:bot for chat subscriptions made with an app token;
    # the shipped chat worker wants channel.chat.message, so the auth link asks for both.
    async with deploy(tmp_path, **CONDUIT) as deployment:
        link = (await deployment.api.get("/tokens/link")).json()
        assert {"user:bot", "channel:bot"} <= set(link["scopes"])
        assert "user%3Abot" in link["auth_url"] and "channel%3Abot" in link["auth_url"]
    async with deploy(tmp_path / "ws") as websocket:
        link = (await websocket.api.get("/tokens/link")).json()
        assert "user:bot" not in link["scopes"]
