"""A worker acts for the channel of the event it handles: `self.twitch` uses that channel's
token (refreshed on a 401, stored again), `self.state` keeps that channel's keys apart, and the
default channel keeps the single-channel keys. Real Redis, PostgreSQL and the simulator."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import httpx

from core.channels import ChannelTag
from tests.system.test_system_flow import authorize, deploy
from tokens.channel_tokens import ChannelClients
from tokens.model import TokenSet
from worker_runtime.toolkit import StoredState
from workers.base import EMIT_SOURCE, BaseWorker, EmitSource, WorkerConfig, WorkerToolkit


class ProbeWorker(BaseWorker):
    abstract = True  # not registered: discovery must not pick it up elsewhere

    def get_subscriptions(self, broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
        return []

    async def handle(self, event_type: str, payload: dict[str, Any]) -> None:
        return None


async def me(worker: BaseWorker) -> str:
    answer = await worker.twitch.request("GET", "users")
    user_id: str = answer.json()["data"][0]["id"]
    return user_id


async def add_channel(services: Any, sim: Any, user: str) -> TokenSet:
    """`user` as a channel, with a token the simulator issued (as an authorization would)."""
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{sim.http_url}/control/tokens/issue", json={"user": user})
    issued = answer.json()
    who = sim.state.user(user)
    token = TokenSet(
        issued["access_token"],
        issued["refresh_token"],
        time.time() + issued["expires_in"],
        issued["scope"],
        who.id,
        who.login,
    )
    await services.tokens.channels.add_with_token(token)
    return token


def handling(channel: ChannelTag | None) -> Any:
    return EMIT_SOURCE.set(EmitSource("eventsub:test/1-0", channel=channel))


async def test_a_worker_acts_and_keeps_state_per_channel(tmp_path: Path) -> None:
    async with deploy(tmp_path) as deployment:
        await authorize(deployment)
        services = deployment.app.state.services
        sim = deployment.sim
        bot = sim.state.user("bot")
        token = await add_channel(services, sim, "bot")
        clients = ChannelClients(services.settings, services.tokens, services.bus, services.http)
        worker = ProbeWorker()
        worker.bind(
            WorkerToolkit(
                publisher=services.publisher,
                state=StoredState(services.store, "probe", clients.default_id),
                config=WorkerConfig(),
                logger=logging.getLogger("test.probe"),
                twitch=services.helix,
                channels=clients,
            )
        )
        default = ChannelTag(services.tokens.user_id, services.tokens.login)
        bot_channel = ChannelTag(bot.id, bot.login)

        reset = handling(bot_channel)
        try:
            assert worker.channel == bot_channel
            assert await me(worker) == bot.id
            await worker.state.set("count", 1)
        finally:
            EMIT_SOURCE.reset(reset)
        reset = handling(default)
        try:
            assert await me(worker) == default.id
            assert await worker.state.get("count") is None
            await worker.state.set("count", 5)
        finally:
            EMIT_SOURCE.reset(reset)
        # Outside handle: the default channel's (single-channel) keys.
        assert await worker.state.get("count") == 5
        assert await services.store.get("worker_state:probe", "count") == "5"

        # The bot's token dies at Twitch: the next call refreshes it once and stores it.
        async with httpx.AsyncClient() as http:
            expired = await http.post(
                f"{sim.http_url}/control/tokens/expire", json={"access_token": token.access_token}
            )
        assert expired.status_code == 200, expired.text
        reset = handling(bot_channel)
        try:
            assert await me(worker) == bot.id
            assert await worker.state.get("count") == 1
        finally:
            EMIT_SOURCE.reset(reset)
        stored = await services.tokens.channels.vault(bot.id).load()
        assert stored is not None and stored.access_token != token.access_token
