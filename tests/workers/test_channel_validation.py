"""The hourly check of the channels' tokens: a token Twitch refuses is refreshed once; one that
cannot be refreshed marks only its own channel invalid. Real stores and the simulator."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.system.test_system_flow import authorize, deploy
from tests.workers.test_channel_toolkit import add_channel
from tokens.channel_tokens import ChannelClients
from tokens.channel_validation import ChannelValidation


async def test_a_refused_token_is_refreshed_and_a_dead_one_marks_only_its_channel(
    tmp_path: Path,
) -> None:
    async with deploy(tmp_path) as deployment:
        await authorize(deployment)
        services, sim = deployment.app.state.services, deployment.sim
        bot = await add_channel(services, sim, "bot")
        moderator = await add_channel(services, sim, "moderator")
        clients = ChannelClients(services.settings, services.tokens, services.bus, services.http)
        registry = services.tokens.channels
        check = ChannelValidation(
            registry, services.tokens.oauth, clients.token, clients.default_id
        )

        async def state(user_id: str | None) -> str:
            assert user_id is not None
            record = await registry.resolve(user_id, fresh=True)
            assert record is not None
            return record.token_state

        async with httpx.AsyncClient() as http:
            # The bot's access token dies: refreshed, still ok.
            await http.post(
                f"{sim.http_url}/control/tokens/expire", json={"access_token": bot.access_token}
            )
            [bot_record] = [r for r in await registry.list() if r.id == bot.user_id]
            assert await check.validate(bot_record) is True
            assert await state(bot.user_id) == "ok"
            # The moderator disconnects the app: no refresh can help; only that channel shows it.
            await http.post(f"{sim.http_url}/control/users/moderator/revoke-authorization")
        [mod_record] = [r for r in await registry.list() if r.id == moderator.user_id]
        assert await check.validate(mod_record) is False
        assert await state(moderator.user_id) == "invalid"
        assert await state(bot.user_id) == "ok"
        listed = {c["login"]: c["auth"] for c in (await deployment.api.get("/channels")).json()}
        assert listed[moderator.login] == "invalid"
        assert listed[bot.login] != "invalid"
        assert (check.validated, check.failed) == (1, 1)
