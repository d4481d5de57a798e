"""Conduit endpoints and conduit subscriptions, as a plain Helix client sees them."""

from __future__ import annotations

import pytest

from simulator.oauth import RegisteredApp
from tests.simulator.conduit_helpers import (
    app_api,
    app_token,
    assert_error,
    assign,
    create_conduit,
    shards_of,
    sockets,
    subscribe_conduit,
)
from tests.simulator.helpers import control, eventsub, helix

pytestmark = pytest.mark.slow  # the simulator serves on a port

CONDUITS = "/eventsub/conduits"
SHARDS = "/eventsub/conduits/shards"


async def _every_endpoint(api):
    """One call to each conduit endpoint, with a well-formed body."""
    return [
        await api.get(CONDUITS),
        await api.post(CONDUITS, json={"shard_count": 1}),
        await api.patch(CONDUITS, json={"id": "x", "shard_count": 1}),
        await api.delete(CONDUITS, params={"id": "x"}),
        await api.get(SHARDS, params={"conduit_id": "x"}),
        await api.patch(SHARDS, json={"conduit_id": "x", "shards": [{"id": "0"}]}),
    ]


async def test_conduit_endpoints_refuse_anything_but_an_app_token_with_401(simulator):
    user_token = (await simulator.issue_token())["access_token"]
    app = await app_token(simulator)
    for api in (
        helix(simulator, user_token),  # a user token
        helix(simulator),  # no token
        helix(simulator, "not-a-token"),
        helix(simulator, app, client_id="someone-elses-client-id"),
    ):
        async with api:
            for response in await _every_endpoint(api):
                assert_error(response, 401)
    assert simulator.state.conduits.by_id == {}


async def test_create_list_update_and_delete_a_conduit(simulator):
    async with app_api(simulator) as api:
        created = await api.post(CONDUITS, json={"shard_count": 3})
        assert created.status_code == 200, created.text
        assert set(created.json()) == {"data"}
        conduit = created.json()["data"][0]
        assert set(conduit) == {"id", "shard_count"} and conduit["shard_count"] == 3

        listed = await api.get(CONDUITS)
        assert listed.status_code == 200 and listed.json() == {"data": [conduit]}
        assert [s["id"] for s in await shards_of(api, conduit["id"])] == ["0", "1", "2"]

        updated = await api.patch(CONDUITS, json={"id": conduit["id"], "shard_count": 5})
        assert updated.status_code == 200, updated.text
        assert updated.json() == {"data": [{"id": conduit["id"], "shard_count": 5}]}
        assert len(await shards_of(api, conduit["id"])) == 5

        deleted = await api.delete(CONDUITS, params={"id": conduit["id"]})
        assert deleted.status_code == 204 and deleted.content == b""
        assert (await api.get(CONDUITS)).json() == {"data": []}
        assert_error(await api.delete(CONDUITS, params={"id": conduit["id"]}), 404)
        assert_error(await api.delete(CONDUITS), 400)
        assert_error(await api.patch(CONDUITS, json={"id": conduit["id"], "shard_count": 1}), 404)
        assert_error(await api.get(SHARDS, params={"conduit_id": conduit["id"]}), 404)


@pytest.mark.parametrize("shard_count", [0, -1, "2", 2.5, True, None, 20_001])
async def test_an_invalid_shard_count_is_400(simulator, shard_count):
    async with app_api(simulator) as api:
        assert_error(await api.post(CONDUITS, json={"shard_count": shard_count}), 400)
        conduit_id = await create_conduit(api, 1)
        body = {"id": conduit_id, "shard_count": shard_count}
        assert_error(await api.patch(CONDUITS, json=body), 400)


async def test_a_sixth_conduit_is_429(simulator):
    async with app_api(simulator) as api:
        for _ in range(5):
            await create_conduit(api, 1)
        assert_error(await api.post(CONDUITS, json={"shard_count": 1}), 429)
        assert len((await api.get(CONDUITS)).json()["data"]) == 5


async def test_another_clients_conduit_is_404_and_not_listed(simulator):
    simulator.state.oauth.clients["otherclient"] = RegisteredApp("otherclient", "othersecret", ())
    other = simulator.state.oauth.issue_app_token("otherclient", "othersecret")["access_token"]
    async with app_api(simulator) as api, helix(simulator, other, "otherclient") as theirs:
        mine = await create_conduit(api, 2)
        assert (await theirs.get(CONDUITS)).json() == {"data": []}
        assert_error(await theirs.patch(CONDUITS, json={"id": mine, "shard_count": 1}), 404)
        assert_error(await theirs.delete(CONDUITS, params={"id": mine}), 404)
        assert_error(await theirs.get(SHARDS, params={"conduit_id": mine}), 404)
        assert_error(await assign(theirs, mine, {"0": "whatever"}), 404)


async def test_assigning_shards_answers_202_with_a_per_shard_errors_array(simulator):
    async with app_api(simulator) as api, sockets(simulator, 2) as [(_, first), (_, second)]:
        conduit_id = await create_conduit(api, 3)
        other_conduit = await create_conduit(api, 1)
        # Nothing listens there: the shard's challenge fails (tests/simulator/test_webhooks.py).
        webhook = {"method": "webhook", "callback": "https://127.0.0.1/eventsub"}
        shards = [
            {"id": "0", "transport": {"method": "websocket", "session_id": first}},
            {"id": "1", "transport": {"method": "websocket", "session_id": "no-such-session"}},
            {"id": "7", "transport": {"method": "websocket", "session_id": second}},
            {"id": "1", "transport": {"method": "websocket", "session_id": first}},  # taken
            {"id": "2", "transport": {"method": "websocket"}},
            {"id": "2", "transport": {"method": "carrier-pigeon"}},
            {"id": "2", "transport": {**webhook, "secret": "short"}},
            {
                "id": "2",
                "transport": {**webhook, "callback": "http://example.com/x", "secret": "s" * 10},
            },
            {"id": "2", "transport": {**webhook, "secret": "a-good-secret"}},
        ]
        body = {"conduit_id": conduit_id, "shards": shards}
        response = await api.patch(SHARDS, json=body)
        assert response.status_code == 202, response.text
        data, errors = response.json()["data"], response.json()["errors"]

        assert [(s["id"], s["status"]) for s in data] == [
            ("0", "enabled"),
            ("2", "webhook_callback_verification_pending"),
        ]
        assert data[0]["transport"]["method"] == "websocket"
        assert data[0]["transport"]["session_id"] == first and data[0]["transport"]["connected_at"]
        assert data[1]["transport"] == {"method": "webhook", "callback": webhook["callback"]}
        assert [e["id"] for e in errors] == ["1", "7", "1", "2", "2", "2", "2"]
        assert all(set(e) == {"id", "message", "code"} and e["message"] for e in errors)
        assert "outside" in errors[1]["message"] and "not connected" in errors[0]["message"]

        # A session carries one shard only, across all of the client's conduits.
        taken = await assign(api, other_conduit, {"0": first})
        assert taken.status_code == 202 and taken.json()["data"] == []
        assert taken.json()["errors"][0]["id"] == "0"
        # Re-assigning a session to the shard that has it is fine.
        again = await assign(api, conduit_id, {"0": first})
        assert again.json()["errors"] == [] and again.json()["data"][0]["status"] == "enabled"

        listed = await shards_of(api, conduit_id)
        assert [(s["id"], s["status"]) for s in listed[:2]] == [
            ("0", "enabled"),
            ("1", "websocket_disconnected"),  # never assigned
        ]
        assert listed[2]["status"] in (
            "webhook_callback_verification_pending",
            "webhook_callback_verification_failed",  # once the unanswered challenge fails
        )
        assert "secret" not in listed[2]["transport"]


async def test_update_shards_validates_the_request_itself(simulator):
    async with app_api(simulator) as api:
        conduit_id = await create_conduit(api, 1)
        assert_error(await api.patch(SHARDS, json={"shards": [{"id": "0"}]}), 400)
        assert_error(await api.patch(SHARDS, json={"conduit_id": conduit_id, "shards": []}), 400)
        assert_error(await assign(api, "no-such-conduit", {"0": "x"}), 404)


async def test_get_shards_filters_by_status_and_checks_its_parameters(simulator):
    async with app_api(simulator) as api, sockets(simulator, 1) as [(_, session_id)]:
        conduit_id = await create_conduit(api, 3)
        await assign(api, conduit_id, {"1": session_id})
        enabled = await api.get(SHARDS, params={"conduit_id": conduit_id, "status": "enabled"})
        assert enabled.status_code == 200
        assert [s["id"] for s in enabled.json()["data"]] == ["1"]
        assert enabled.json()["pagination"] == {}
        assert_error(await api.get(SHARDS), 400)
        assert_error(await api.get(SHARDS, params={"conduit_id": conduit_id, "status": "x"}), 400)
        assert_error(await api.get(SHARDS, params={"conduit_id": conduit_id, "after": "!"}), 400)


async def test_scaling_down_removes_the_shards_above_the_new_count(simulator):
    async with app_api(simulator) as api, sockets(simulator, 3) as opened:
        conduit_id = await create_conduit(api, 3)
        await assign(api, conduit_id, {str(i): s for i, (_, s) in enumerate(opened)})
        response = await api.patch(CONDUITS, json={"id": conduit_id, "shard_count": 1})
        assert response.json()["data"][0]["shard_count"] == 1
        assert [s["id"] for s in await shards_of(api, conduit_id)] == ["0"]
        # The freed session may carry a shard again.
        assert (await assign(api, await create_conduit(api, 1), {"0": opened[2][1]})).json()[
            "errors"
        ] == []


async def test_conduit_subscriptions_need_an_app_token_and_the_clients_own_conduit(simulator):
    me = simulator.users["broadcaster"].id
    online = {"broadcaster_user_id": me}
    user_token = (await simulator.issue_token())["access_token"]
    async with app_api(simulator) as api, helix(simulator, user_token) as user_api:
        conduit_id = await create_conduit(api, 1)
        assert_error(await subscribe_conduit(user_api, conduit_id, "stream.online", online), 401)
        assert_error(await subscribe_conduit(api, "no-such-conduit", "stream.online", online), 400)
        no_id = {"type": "stream.online", "version": "1", "condition": online}
        no_id["transport"] = {"method": "conduit"}
        assert_error(await api.post("/eventsub/subscriptions", json=no_id), 400)

        created = await subscribe_conduit(api, conduit_id, "stream.online", online)
        assert created.status_code == 202, created.text
        body = created.json()
        assert body["max_total_cost"] == 10_000 and body["total"] == 1
        sub = body["data"][0]
        assert sub["transport"] == {"method": "conduit", "conduit_id": conduit_id}
        assert sub["status"] == "enabled" and sub["cost"] == 0  # the broadcaster authorized us
        assert_error(await subscribe_conduit(api, conduit_id, "stream.online", online), 409)

        listed = (await api.get("/eventsub/subscriptions")).json()
        assert [s["id"] for s in listed["data"]] == [sub["id"]]
        assert listed["data"][0]["transport"] == sub["transport"]
        assert listed["max_total_cost"] == 10_000
        assert (await user_api.get("/eventsub/subscriptions")).json()["data"] == []

        deleted = await api.delete("/eventsub/subscriptions", params={"id": sub["id"]})
        assert deleted.status_code == 204


async def test_an_unauthorized_channel_costs_1_like_any_transport(simulator):
    stranger = "12826"  # a channel that never authorized the client
    async with app_api(simulator) as api:
        conduit_id = await create_conduit(api, 1)
        created = await subscribe_conduit(
            api, conduit_id, "stream.online", {"broadcaster_user_id": stranger}
        )
    assert created.status_code == 202 and created.json()["data"][0]["cost"] == 1
    assert created.json()["total_cost"] == 1


async def test_an_app_token_needs_the_broadcasters_grant_to_this_client(simulator):
    me = simulator.users["broadcaster"].id
    condition = {"broadcaster_user_id": me}
    async with app_api(simulator) as api:
        conduit_id = await create_conduit(api, 1)
        await simulator.issue_token(scopes=["bits:read"])  # a grant, but not the needed scope
        assert_error(await subscribe_conduit(api, conduit_id, "channel.subscribe", condition), 403)
        await simulator.issue_token(scopes=["channel:read:subscriptions"])
        created = await subscribe_conduit(api, conduit_id, "channel.subscribe", condition)
        assert created.status_code == 202 and created.json()["data"][0]["cost"] == 0
        # Follows need the moderator's grant and that user to moderate the channel.
        follow = {"broadcaster_user_id": me, "moderator_user_id": "12826"}
        assert_error(await subscribe_conduit(api, conduit_id, "channel.follow", follow, "2"), 403)


async def test_chat_over_a_conduit_needs_user_bot_and_channel_bot_or_moderation(simulator):
    me, bot = simulator.users["broadcaster"].id, simulator.users["bot"].id
    chat = {"broadcaster_user_id": me, "user_id": bot}
    async with app_api(simulator) as api:
        conduit_id = await create_conduit(api, 1)
        await simulator.issue_token("bot", scopes=["user:read:chat"])
        assert_error(await subscribe_conduit(api, conduit_id, "channel.chat.message", chat), 403)
        await simulator.issue_token("bot", scopes=["user:read:chat", "user:bot"])
        # The bot moderates the broadcaster's channel, so channel:bot is not needed.
        created = await subscribe_conduit(api, conduit_id, "channel.chat.message", chat)
        assert created.status_code == 202, created.text


async def test_revoking_the_users_grant_revokes_their_conduit_subscriptions(simulator):
    me = simulator.users["broadcaster"].id
    async with app_api(simulator) as api:
        conduit_id = await create_conduit(api, 1)
        await simulator.issue_token(scopes=["bits:read"])
        sub = (
            await subscribe_conduit(api, conduit_id, "channel.cheer", {"broadcaster_user_id": me})
        ).json()["data"][0]
        async with control(simulator) as ctl:
            revoke = await ctl.post("/tokens/revoke", json={"user": "broadcaster"})
        assert revoke.json()["revoked_subscriptions"] == [sub["id"]]
        listed = (await api.get("/eventsub/subscriptions")).json()["data"]
    assert listed[0]["status"] == "authorization_revoked"


async def test_deleting_a_conduit_disables_its_subscriptions_and_closes_no_socket(simulator):
    me = simulator.users["broadcaster"].id
    async with app_api(simulator) as api, sockets(simulator, 1) as [(_, session_id)]:
        conduit_id = await create_conduit(api, 1)
        await assign(api, conduit_id, {"0": session_id})
        await subscribe_conduit(api, conduit_id, "stream.online", {"broadcaster_user_id": me})
        assert (await api.delete(CONDUITS, params={"id": conduit_id})).status_code == 204
        listed = (await api.get("/eventsub/subscriptions")).json()
        assert [s["status"] for s in listed["data"]] == ["conduit_deleted"]
        assert listed["total_cost"] == 0
        assert simulator.state.sessions[session_id].is_open
        assert (await simulator.trigger("stream.online"))["delivered"] == 0


async def test_shard_disabled_subscriptions_are_for_the_callers_own_client_only(simulator):
    async with app_api(simulator) as api:
        conduit_id = await create_conduit(api, 1)
        mine = {"client_id": simulator.client_id}
        theirs = {"client_id": "someone-else"}
        kind = "conduit.shard.disabled"
        assert_error(await subscribe_conduit(api, conduit_id, kind, theirs), 403)
        assert_error(await subscribe_conduit(api, conduit_id, kind, {}), 400)
        created = await subscribe_conduit(api, conduit_id, kind, {**mine, "conduit_id": conduit_id})
        assert created.status_code == 202, created.text
        assert created.json()["data"][0]["cost"] == 0
    user_token = (await simulator.issue_token())["access_token"]
    async with helix(simulator, user_token) as user_api, eventsub(simulator.ws_url) as client:
        body = {
            "type": kind,
            "version": "1",
            "condition": mine,
            "transport": {"method": "websocket", "session_id": await client.welcome()},
        }
        assert_error(await user_api.post("/eventsub/subscriptions", json=body), 403)


async def test_control_lists_conduits_with_shards_statuses_and_drops(simulator):
    async with (
        app_api(simulator) as api,
        control(simulator) as ctl,
        sockets(simulator, 1) as [(_, session_id)],
    ):
        conduit_id = await create_conduit(api, 2)
        await assign(api, conduit_id, {"1": session_id})
        listed = await ctl.get("/conduits")
        sessions = (await ctl.get("/sessions")).json()["data"]
    assert [s["conduit_shard"] for s in sessions if s["id"] == session_id] == [
        {"conduit_id": conduit_id, "shard_id": "1"}
    ]
    assert listed.status_code == 200
    body = listed.json()
    assert body["dropped"] == 0
    [conduit] = body["data"]
    assert conduit["id"] == conduit_id and conduit["client_id"] == simulator.client_id
    assert conduit["shard_count"] == 2 and conduit["dropped"] == 0
    assert conduit["subscriptions"] == 0
    assert [s["status"] for s in conduit["shards"]] == ["websocket_disconnected", "enabled"]
