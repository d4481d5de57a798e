"""The bot and moderator accounts, against the simulator on real Redis and PostgreSQL: a
second authorization (GET /tokens/link?account=bot) makes chat.send speak as the bot, a
moderator account signs announcements, and removing the bot sends as the broadcaster again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.actions.test_actions_http import call, grant_chat
from tests.system.test_system_flow import Deployment, approve_link, authorize, deploy
from tokens.identities import ROLE_SCOPES


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with deploy(tmp_path) as running:
        await authorize(running)
        yield running


async def sim_call(deployment: Deployment, method: str, path: str, **kw: Any) -> Any:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.request(method, f"{deployment.sim.http_url}/control/{path}", **kw)
        answer.raise_for_status()
        return answer.json()


async def authorize_account(deployment: Deployment, role: str) -> dict[str, Any]:
    """The simulator's Twitch signs in as `role`'s user, who approves the account link."""
    await sim_call(deployment, "POST", "oauth", json={"authorize_as": role})
    link = await deployment.api.get(f"/tokens/link?account={role}")
    assert link.status_code == 200, link.text
    assert link.json()["scopes"] == sorted(ROLE_SCOPES[role])
    return await approve_link(deployment, link.json()["auth_url"])


async def last_chat_sender(deployment: Deployment) -> tuple[str, str, str]:
    messages = (await sim_call(deployment, "GET", "chat"))["data"]
    last = messages[-1]
    return last["sender_id"], last["broadcaster_id"], last["message"]


async def test_chat_send_speaks_as_the_bot_account_until_it_is_removed(
    deployment: Deployment,
) -> None:
    sim = deployment.sim
    broadcaster, bot = sim.users["broadcaster"], sim.users["bot"]
    await grant_chat(deployment)

    answer = await authorize_account(deployment, "bot")
    assert answer["account"] == "bot" and answer["user_id"] == bot.id
    assert answer["message"] == f"{bot.login} is now the bot account. You can close this tab."
    status = (await deployment.api.get("/tokens")).json()
    # The default channel is still the broadcaster's; the bot is an extra account.
    assert status["login"] == broadcaster.login
    assert status["accounts"]["bot"]["login"] == bot.login
    assert set(ROLE_SCOPES["bot"]) <= set(status["accounts"]["bot"]["scopes"])
    assert "access_token" not in str(status)

    sent = await call(deployment, "chat.send", {"message": "from the bot"})
    assert sent.status_code == 200, sent.text
    assert await last_chat_sender(deployment) == (bot.id, broadcaster.id, "from the bot")

    removed = await deployment.api.delete("/tokens/accounts/bot")
    assert removed.status_code == 200, removed.text
    assert removed.json()["removed"]["user_id"] == bot.id
    assert "bot" not in (await deployment.api.get("/tokens")).json()["accounts"]
    again = await deployment.api.delete("/tokens/accounts/bot")
    assert again.status_code == 404
    assert again.json()["error"] == "not_found"

    sent = await call(deployment, "chat.send", {"message": "from the broadcaster"})
    assert sent.status_code == 200, sent.text
    assert await last_chat_sender(deployment) == (
        broadcaster.id,
        broadcaster.id,
        "from the broadcaster",
    )


async def test_announcements_are_signed_by_the_moderator_account(
    deployment: Deployment,
) -> None:
    sim = deployment.sim
    broadcaster, moderator = sim.users["broadcaster"], sim.users["moderator"]
    answer = await authorize_account(deployment, "moderator")
    assert answer["account"] == "moderator" and answer["user_id"] == moderator.id

    # The broadcaster's token lacks the scope; the moderator's has it, and it is the one used.
    announced = await call(deployment, "chat.announce", {"message": "hello", "color": "blue"})
    assert announced.status_code == 200, announced.text
    records = (await sim_call(deployment, "GET", "actions", params={"kind": "announcement"}))[
        "data"
    ]
    assert records[-1]["broadcaster_id"] == broadcaster.id
    assert records[-1]["moderator_id"] == moderator.id


async def test_unknown_accounts_are_refused(deployment: Deployment) -> None:
    link = await deployment.api.get("/tokens/link?account=owner")
    assert link.status_code == 422
    removed = await deployment.api.delete("/tokens/accounts/owner")
    assert removed.status_code == 404
    assert "bot, moderator" in removed.json()["message"]


async def test_moderator_conditions_name_the_moderator_account_over_a_conduit(
    tmp_path: Path,
) -> None:
    """With an app token, `moderator_user_id` may be a real moderator who authorized the app:
    once the moderator account is set, channel.follow moves to that condition, with no gap
    (the new subscription is enabled before the old one goes) and still delivers follows."""
    from tests.gateway.test_conduit_transport import CONDUIT, conduit_ready, sim_get
    from tests.polling import eventually
    from tests.system.test_system_flow import WAIT_S

    async with deploy(tmp_path, **CONDUIT) as deployment:
        await authorize(deployment)
        await deployment.api.post("/system/start")
        await conduit_ready(deployment)
        broadcaster, moderator = (
            deployment.sim.users["broadcaster"],
            deployment.sim.users["moderator"],
        )

        async def follow_moderators() -> set[str]:
            subs = (await sim_get(deployment, "subscriptions"))["data"]
            return {
                s["condition"]["moderator_user_id"]
                for s in subs
                if s["type"] == "channel.follow" and s["status"] == "enabled"
            }

        async def follow_by(user_id: str) -> bool:
            return await follow_moderators() == {user_id}

        await eventually(lambda: follow_by(broadcaster.id), within_s=WAIT_S, what="follow")
        await authorize_account(deployment, "moderator")
        await eventually(
            lambda: follow_by(moderator.id), within_s=WAIT_S, what="the moderator's follow"
        )
        runtime = deployment.app.state.services
        async with runtime.bus.psubscribe("events:alert.follow") as alerts:
            await deployment.sim.trigger(
                "channel.follow",
                event={"user_name": "Ada"},
                condition={"broadcaster_user_id": broadcaster.id},
            )
            message = await asyncio.wait_for(alerts.get(), 10)
        assert json.loads(message.data)["data"]["user"]["name"] == "Ada"


async def test_the_hourly_check_refreshes_the_bots_token_and_marks_a_dead_one(
    deployment: Deployment,
) -> None:
    """Twitch asks apps to validate every token hourly: the bot's token too. A refused token
    is refreshed once; when the bot disconnects the app, GET /tokens shows it invalid."""
    from tokens.channel_tokens import ChannelClients
    from tokens.channel_validation import ChannelValidation

    await authorize_account(deployment, "bot")
    services = deployment.app.state.services
    tokens = services.tokens
    clients = ChannelClients(services.settings, tokens, services.bus, services.http)
    check = ChannelValidation(
        tokens.channels,
        tokens.oauth,
        clients.token,
        clients.default_id,
        identities=tokens.identities,
        account_token=clients.account_token,
    )
    source = await clients.account_token("bot")
    assert source is not None
    await sim_call(
        deployment, "POST", "tokens/expire", json={"access_token": await source.access_token()}
    )
    assert await check.validate_account("bot") is True
    assert (await deployment.api.get("/tokens")).json()["accounts"]["bot"]["token_state"] == "ok"
    await sim_call(deployment, "POST", "users/bot/revoke-authorization")
    assert await check.validate_account("bot") is False
    status = (await deployment.api.get("/tokens")).json()
    assert status["accounts"]["bot"]["token_state"] == "invalid"
    assert status["state"] == "ok"  # the broadcaster's own token is not affected
