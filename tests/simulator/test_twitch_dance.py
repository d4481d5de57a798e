"""The whole Twitch dance with plain clients, as a real app would do it, start to finish."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from simulator.testing import run_simulator
from tests.simulator.helpers import control, eventsub, helix, oauth, subscribe

pytestmark = pytest.mark.slow  # the simulator serves on a port


async def test_authorize_exchange_validate_connect_subscribe_follow_reconnect_revocation():
    async with (
        run_simulator(reconnect_grace_s=5) as sim,
        oauth(sim) as id_twitch,
        control(sim) as ctl,
    ):
        # 1. authorize -> redirect with code and state
        redirect = await id_twitch.get(
            "/authorize",
            params={
                "client_id": sim.client_id,
                "redirect_uri": sim.redirect_uri,
                "response_type": "code",
                "scope": "moderator:read:followers",
                "state": "s-42",
            },
        )
        query = parse_qs(urlsplit(redirect.headers["location"]).query)
        assert query["state"] == ["s-42"]
        # 2. exchange the code
        tokens = (
            await id_twitch.post(
                "/token",
                data={
                    "client_id": sim.client_id,
                    "client_secret": sim.client_secret,
                    "code": query["code"][0],
                    "grant_type": "authorization_code",
                    "redirect_uri": sim.redirect_uri,
                },
            )
        ).json()
        # 3. validate
        me = (
            await id_twitch.get(
                "/validate", headers={"Authorization": f"OAuth {tokens['access_token']}"}
            )
        ).json()
        assert me["scopes"] == ["moderator:read:followers"]
        async with helix(sim, tokens["access_token"]) as api, eventsub(sim.ws_url) as old:
            # 4. connect, 5. subscribe within the deadline
            session_id = await old.welcome()
            condition = {"broadcaster_user_id": me["user_id"], "moderator_user_id": me["user_id"]}
            created = await subscribe(api, session_id, "channel.follow", condition, "2")
            assert created.status_code == 202
            # 6. a follow arrives
            await ctl.post(
                "/trigger", json={"type": "channel.follow", "event": {"user_login": "cozycactus"}}
            )
            follow = await old.next_of("notification")
            assert follow["payload"]["event"]["user_login"] == "cozycactus"
            assert follow["payload"]["event"]["broadcaster_user_id"] == me["user_id"]
            # 7. follow a reconnect with overlap, deduplicating by message_id
            await ctl.post(f"/sessions/{session_id}/reconnect")
            url = (await old.next_of("session_reconnect"))["payload"]["session"]["reconnect_url"]
            during = (await sim.trigger("channel.follow"))["message_ids"][0]
            assert (await old.next_of("notification"))["metadata"]["message_id"] == during
            seen = {follow["metadata"]["message_id"], during}
            async with eventsub(url) as new:
                new_id = await new.welcome()
                await old.connection.close()
                after = await sim.trigger("channel.follow")
                fresh: list[dict[str, Any]] = []
                while len(fresh) < 1:
                    message = await new.next_of("notification")
                    if message["metadata"]["message_id"] not in seen:
                        seen.add(message["metadata"]["message_id"])
                        fresh.append(message)
                assert fresh[0]["metadata"]["message_id"] == after["message_ids"][0]
                # 8. a revocation arrives on the new socket
                sub_id = created.json()["data"][0]["id"]
                await ctl.post(
                    f"/subscriptions/{sub_id}/revoke", json={"status": "authorization_revoked"}
                )
                revoked = await new.next_of("revocation")
                assert revoked["payload"]["subscription"]["id"] == sub_id
                assert revoked["payload"]["subscription"]["transport"]["session_id"] == new_id
