"""Many channels on one conduit, against the simulator on Redis and PostgreSQL: a channel added
while running gets every worker's subscriptions (app token, conduit transport), its events
arrive tagged with it, and removing it deletes its subscriptions at Twitch."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx

from tests.gateway.test_conduit_transport import CONDUIT, conduit_ready, sim_get
from tests.polling import eventually
from tests.system.test_system_flow import WAIT_S, Deployment, approve_link, authorize, deploy


async def add_channel_as(deployment: Deployment, user: str) -> dict[str, Any]:
    """POST /channels, then `user` approves the link in a browser."""
    started = (await deployment.api.post("/channels")).json()
    async with httpx.AsyncClient() as http:
        who = await http.post(
            f"{deployment.sim.http_url}/control/oauth", json={"authorize_as": user}
        )
    await approve_link(deployment, started["auth_url"])
    approved: dict[str, Any] = who.json()
    return approved


async def follows_on_conduit(deployment: Deployment) -> set[str]:
    """The broadcasters with a channel.follow subscription on the conduit."""
    subs = (await sim_get(deployment, "subscriptions"))["data"]
    return {
        s["condition"]["broadcaster_user_id"]
        for s in subs
        if s["type"] == "channel.follow"
        and s["transport"]["method"] == "conduit"
        and s["status"] == "enabled"
    }


async def test_a_channel_added_while_running_is_subscribed_tagged_and_removed(
    tmp_path: Path,
) -> None:
    async with deploy(tmp_path, **CONDUIT) as deployment:
        await authorize(deployment)
        await deployment.api.post("/system/start")
        await conduit_ready(deployment)
        main_id = deployment.app.state.services.tokens.user_id
        bot = await add_channel_as(deployment, "bot")

        async def both() -> bool:
            return await follows_on_conduit(deployment) == {main_id, bot["user_id"]}

        await eventually(both, within_s=WAIT_S, what="the new channel's follow subscription")
        listed = {c["login"]: c for c in (await deployment.api.get("/channels")).json()}
        added = listed[bot["login"]]
        assert (added["auth"], added["missing_scopes"], added["default"]) == ("ok", [], False)
        assert added["subscriptions"].get("enabled", 0) >= 1
        assert set(added["subscriptions"]) <= {"enabled", "pending"}

        runtime = deployment.app.state.services
        async with runtime.bus.psubscribe("events:alert.follow") as alerts:
            await deployment.sim.trigger(
                "channel.follow",
                event={"user_name": "Grace"},
                condition={"broadcaster_user_id": bot["user_id"]},
            )
            message = await asyncio.wait_for(alerts.get(), 10)
        envelope = json.loads(message.data)
        assert envelope["channel"] == {"id": bot["user_id"], "login": bot["login"]}
        assert envelope["data"]["user"]["name"] == "Grace"

        removed = await deployment.api.delete(f"/channels/{bot['login']}")
        assert removed.status_code == 200, removed.text

        async def only_main() -> bool:
            return await follows_on_conduit(deployment) == {main_id}

        await eventually(only_main, within_s=WAIT_S, what="the removed channel unsubscribed")
        status = (await deployment.api.get("/system/status")).json()
        assert status["gateway"]["channels"] == 1


async def test_a_broadcaster_revoking_stops_only_their_channel(tmp_path: Path) -> None:
    async with deploy(tmp_path, **CONDUIT) as deployment:
        await authorize(deployment)
        await deployment.api.post("/system/start")
        await conduit_ready(deployment)
        runtime = deployment.app.state.services
        main_id = runtime.tokens.user_id
        bot = await add_channel_as(deployment, "bot")

        async def both() -> bool:
            return await follows_on_conduit(deployment) == {main_id, bot["user_id"]}

        await eventually(both, within_s=WAIT_S, what="both channels subscribed")
        async with runtime.bus.psubscribe("events:system.channel.revoked") as revoked:
            async with httpx.AsyncClient() as http:
                answer = await http.post(
                    f"{deployment.sim.http_url}/control/users/bot/revoke-authorization"
                )
            assert answer.status_code == 200, answer.text
            assert answer.json()["clients_notified"]
            announced = json.loads((await asyncio.wait_for(revoked.get(), WAIT_S)).data)
        assert announced["data"] == {
            "id": bot["user_id"],
            "login": bot["login"],
            "status": "revoked",
        }

        async def marked() -> bool:
            listed = (await deployment.api.get("/channels")).json()
            return {c["login"]: c["status"] for c in listed}.get(bot["login"]) == "revoked"

        await eventually(marked, within_s=WAIT_S, what="the channel marked revoked")

        async def only_main() -> bool:
            return await follows_on_conduit(deployment) == {main_id}

        await eventually(only_main, within_s=WAIT_S, what="only the main channel subscribed")
        # The other channel goes on as before.
        async with runtime.bus.psubscribe("events:alert.follow") as alerts:
            await deployment.sim.trigger(
                "channel.follow",
                event={"user_name": "Ada"},
                condition={"broadcaster_user_id": main_id},
            )
            message = await asyncio.wait_for(alerts.get(), 10)
        assert json.loads(message.data)["channel"]["id"] == main_id
