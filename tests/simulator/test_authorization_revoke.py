"""A user revokes the app: their tokens die, the subscriptions that needed them are revoked,
`user.authorization.revoke` reaches the client, and every other user is left alone."""

from __future__ import annotations

import pytest

from tests.simulator.conduit_helpers import (
    app_api,
    assert_error,
    create_conduit,
    sharded_conduit,
    subscribe_conduit,
)
from tests.simulator.helpers import control, eventsub, helix, oauth, subscribe

pytestmark = pytest.mark.slow  # the simulator serves on a port

REVOKE = "user.authorization.revoke"
ANSWER_FIELDS = {"user_id", "tokens", "revoked_subscriptions", "clients_notified", "message_ids"}


async def _valid(sim, token: str) -> bool:
    async with oauth(sim) as client:
        response = await client.get("/validate", headers={"Authorization": f"OAuth {token}"})
    return response.status_code == 200


async def test_revoking_one_channel_notifies_the_client_and_spares_the_others(simulator):
    async with (
        control(simulator) as ctl,
        sharded_conduit(simulator, 1) as (api, conduit_id, [(client, _)]),
    ):
        alice, bob = (
            await ctl.post("/users", json={"logins": ["alicechan", "bobchan"], "authorize": True})
        ).json()["data"]
        watched = await subscribe_conduit(
            api, conduit_id, REVOKE, {"client_id": simulator.client_id}
        )
        assert watched.status_code == 202, watched.text
        assert watched.json()["data"][0]["cost"] == 0
        subs = {}
        for user in (alice, bob):
            for sub_type in ("channel.subscribe", "stream.online"):
                response = await subscribe_conduit(
                    api, conduit_id, sub_type, {"broadcaster_user_id": user["id"]}
                )
                subs[(user["login"], sub_type)] = response.json()["data"][0]["id"]

        revoked = await ctl.post(f"/users/{alice['login']}/revoke-authorization")
        assert revoked.status_code == 200, revoked.text
        answer = revoked.json()
        assert set(answer) == ANSWER_FIELDS
        assert answer["user_id"] == alice["id"] and answer["tokens"] == 1
        assert answer["revoked_subscriptions"] == [subs[("alicechan", "channel.subscribe")]]
        assert answer["clients_notified"] == [simulator.client_id]

        revocation = await client.next_of("revocation")
        assert revocation["payload"]["subscription"]["id"] == answer["revoked_subscriptions"][0]
        assert revocation["payload"]["subscription"]["status"] == "authorization_revoked"
        notice = await client.next_of("notification")
        assert notice["metadata"]["message_id"] == answer["message_ids"][0]
        assert notice["metadata"]["subscription_type"] == REVOKE
        assert notice["metadata"]["subscription_version"] == "1"
        assert notice["payload"]["subscription"]["condition"] == {"client_id": simulator.client_id}
        assert notice["payload"]["event"] == {
            "client_id": simulator.client_id,
            "user_id": alice["id"],
            "user_login": "alicechan",
            "user_name": "Alicechan",
        }

        statuses = {
            s["id"]: s["status"] for s in (await api.get("/eventsub/subscriptions")).json()["data"]
        }
        assert statuses[subs[("alicechan", "channel.subscribe")]] == "authorization_revoked"
        # Needs no authorization: it lives on. Bob's are untouched.
        assert statuses[subs[("alicechan", "stream.online")]] == "enabled"
        assert statuses[subs[("bobchan", "channel.subscribe")]] == "enabled"
        assert not await _valid(simulator, alice["access_token"])
        assert await _valid(simulator, bob["access_token"])
        async with oauth(simulator) as id_service:
            refreshed = await id_service.post(
                "/token",
                data={
                    "client_id": simulator.client_id,
                    "client_secret": simulator.client_secret,
                    "grant_type": "refresh_token",
                    "refresh_token": alice["refresh_token"],
                },
            )
        assert refreshed.status_code == 400

        # Nothing left to revoke: no second notification.
        again = (await ctl.post(f"/users/{alice['id']}/revoke-authorization")).json()
        assert (
            again["tokens"] == 0 and again["clients_notified"] == [] and again["message_ids"] == []
        )


async def test_tokens_revoke_with_a_user_is_the_same_revocation(simulator):
    async with control(simulator) as ctl, app_api(simulator) as api:
        conduit_id = await create_conduit(api, 1)
        user = (await ctl.post("/users", json={"count": 1, "authorize": True})).json()["data"][0]
        await subscribe_conduit(api, conduit_id, REVOKE, {"client_id": simulator.client_id})
        cheer = await subscribe_conduit(
            api, conduit_id, "channel.cheer", {"broadcaster_user_id": user["id"]}
        )
        answer = (await ctl.post("/tokens/revoke", json={"user": user["login"]})).json()
        unknown = await ctl.post("/users/nobody_at_all/revoke-authorization")
    assert set(answer) == ANSWER_FIELDS
    assert answer["revoked_subscriptions"] == [cheer.json()["data"][0]["id"]]
    assert answer["clients_notified"] == [simulator.client_id]
    assert unknown.status_code == 404


async def test_chat_subscriptions_die_with_the_broadcasters_channel_bot_grant(simulator):
    bot = simulator.users["bot"].id
    await simulator.issue_token("bot", scopes=["user:read:chat", "user:bot"])
    async with control(simulator) as ctl, app_api(simulator) as api:
        conduit_id = await create_conduit(api, 1)
        user = (await ctl.post("/users", json={"count": 1, "authorize": True})).json()["data"][0]
        chat = await subscribe_conduit(
            api,
            conduit_id,
            "channel.chat.message",
            {"broadcaster_user_id": user["id"], "user_id": bot},
        )
        assert chat.status_code == 202, chat.text
        answer = (await ctl.post(f"/users/{user['id']}/revoke-authorization")).json()
    # The bot does not moderate the synthetic channel: it read chat on the broadcaster's
    # channel:bot grant, which is gone.
    assert answer["revoked_subscriptions"] == [chat.json()["data"][0]["id"]]


async def test_user_authorization_revoke_needs_an_app_token_for_its_own_client(simulator):
    token = (await simulator.issue_token())["access_token"]
    async with (
        helix(simulator, token) as user_api,
        eventsub(simulator.ws_url) as client,
        app_api(simulator) as api,
        control(simulator) as ctl,
    ):
        session_id = await client.welcome()
        over_websocket = await subscribe(
            user_api, session_id, REVOKE, {"client_id": simulator.client_id}
        )
        conduit_id = await create_conduit(api, 1)
        foreign = await subscribe_conduit(api, conduit_id, REVOKE, {"client_id": "someoneelse"})
        missing = await subscribe_conduit(api, conduit_id, REVOKE, {})
        triggered = await ctl.post("/trigger", json={"type": REVOKE})
    assert_error(over_websocket, 403)
    assert_error(foreign, 403)
    assert_error(missing, 400)
    assert triggered.status_code == 400 and "revoke-authorization" in triggered.json()["message"]
