"""Helix subset: Twitch's validation, status codes, error body and rate-limit headers."""

from __future__ import annotations

import time

import pytest

from simulator.testing import run_simulator
from tests.simulator.helpers import eventsub, follow_condition, helix, oauth, subscribe

pytestmark = pytest.mark.slow  # the simulator serves on a port


async def _app_token(sim) -> str:
    async with oauth(sim) as client:
        response = await client.post(
            "/token",
            data={
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "grant_type": "client_credentials",
            },
        )
    return str(response.json()["access_token"])


def _assert_error(response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and isinstance(body["message"], str) and body["message"]
    assert (
        body["error"]
        == {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            409: "Conflict",
            410: "Gone",
            429: "Too Many Requests",
        }[status]
    )


async def test_create_returns_202_with_twitchs_shape_and_ratelimit_headers(simulator):
    token = (await simulator.issue_token())["access_token"]
    async with helix(simulator, token) as api, eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
        response = await subscribe(
            api, session_id, "channel.follow", follow_condition(simulator), "2"
        )
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"data", "total", "total_cost", "max_total_cost"}
    assert body["max_total_cost"] == 10 and body["total"] == 1
    sub = body["data"][0]
    assert sub["status"] == "enabled" and sub["cost"] == 0
    assert set(sub["transport"]) == {"method", "session_id", "connected_at"}
    assert int(response.headers["Ratelimit-Limit"]) == 800
    assert 0 <= int(response.headers["Ratelimit-Remaining"]) < 800
    assert int(response.headers["Ratelimit-Reset"]) >= int(time.time())  # a Unix epoch


@pytest.mark.parametrize(
    ("sub_type", "version", "condition", "status"),
    [
        ("channel.follow", "1", {"broadcaster_user_id": "71092938"}, 410),
        ("channel.follow", "3", {"broadcaster_user_id": "71092938"}, 400),
        ("channel.follow", "2", {"broadcaster_user_id": "71092938"}, 400),  # moderator missing
        (
            "channel.raid",
            "1",
            {"from_broadcaster_user_id": "71092938", "to_broadcaster_user_id": "12826"},
            400,
        ),
        ("stream.online", "1", {"broadcaster_user_id": "999999999"}, 400),  # no such user
        ("channel.subscribe", "1", {"broadcaster_user_id": "12826"}, 403),  # someone else's channel
        (
            "channel.follow",
            "2",
            {"broadcaster_user_id": "12826", "moderator_user_id": "71092938"},
            403,
        ),
        ("channel.chat.message", "1", {"broadcaster_user_id": "12826", "user_id": "49207184"}, 403),
    ],
)
async def test_create_validates_like_twitch(simulator, sub_type, version, condition, status):
    token = (await simulator.issue_token())["access_token"]
    async with helix(simulator, token) as api, eventsub(simulator.ws_url) as client:
        response = await subscribe(api, await client.welcome(), sub_type, condition, version)
    _assert_error(response, status)


async def test_missing_scope_is_403(simulator):
    token = (await simulator.issue_token(scopes=["user:read:chat"]))["access_token"]
    async with helix(simulator, token) as api, eventsub(simulator.ws_url) as client:
        condition = {"broadcaster_user_id": simulator.users["broadcaster"].id}
        response = await subscribe(api, await client.welcome(), "channel.cheer", condition)
    _assert_error(response, 403)


async def test_moderator_token_may_subscribe_to_follows_of_the_channel_it_moderates(simulator):
    token = (await simulator.issue_token("moderator"))["access_token"]
    condition = {
        "broadcaster_user_id": simulator.users["broadcaster"].id,
        "moderator_user_id": simulator.users["moderator"].id,
    }
    async with helix(simulator, token) as api, eventsub(simulator.ws_url) as client:
        response = await subscribe(api, await client.welcome(), "channel.follow", condition, "2")
    assert response.status_code == 202


async def test_unauthorized_calls_get_401(simulator):
    token = (await simulator.issue_token())["access_token"]
    app_token = await _app_token(simulator)
    async with eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
        condition = follow_condition(simulator)
        async with helix(simulator) as api:
            _assert_error(await subscribe(api, session_id, "channel.follow", condition, "2"), 401)
        async with helix(simulator, "not-a-token") as api:
            _assert_error(await api.get("/users"), 401)
        async with helix(simulator, token, client_id="someone-elses-client") as api:
            _assert_error(await api.get("/users"), 401)
        async with helix(simulator, app_token) as api:  # app token on the websocket transport
            _assert_error(await subscribe(api, session_id, "channel.follow", condition, "2"), 401)


async def test_same_subscription_twice_on_a_session_is_409(simulator):
    token = (await simulator.issue_token())["access_token"]
    async with helix(simulator, token) as api, eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
        assert (
            await subscribe(api, session_id, "channel.follow", follow_condition(simulator), "2")
        ).status_code == 202
        _assert_error(
            await subscribe(api, session_id, "channel.follow", follow_condition(simulator), "2"),
            409,
        )


async def test_fourth_subscription_with_same_type_and_condition_is_429(simulator):
    token = (await simulator.issue_token())["access_token"]
    async with helix(simulator, token) as api:
        clients = [eventsub(simulator.ws_url) for _ in range(4)]
        sockets = [await c.__aenter__() for c in clients]
        try:
            ids = [await s.welcome() for s in sockets]
            for session_id in ids[:3]:
                assert (
                    await subscribe(
                        api, session_id, "channel.follow", follow_condition(simulator), "2"
                    )
                ).status_code == 202
            _assert_error(
                await subscribe(api, ids[3], "channel.follow", follow_condition(simulator), "2"),
                429,
            )
        finally:
            for c in clients:
                await c.__aexit__(None, None, None)


async def test_fourth_connection_with_enabled_subscriptions_is_429(simulator):
    token = (await simulator.issue_token())["access_token"]
    types = ["channel.cheer", "channel.subscribe", "channel.ban", "channel.raid"]
    async with helix(simulator, token) as api:
        clients = [eventsub(simulator.ws_url) for _ in range(4)]
        sockets = [await c.__aenter__() for c in clients]
        try:
            ids = [await s.welcome() for s in sockets]
            me = simulator.users["broadcaster"].id
            for session_id, sub_type in zip(ids[:3], types, strict=False):
                assert (
                    await subscribe(api, session_id, sub_type, {"broadcaster_user_id": me})
                ).status_code == 202
            response = await subscribe(api, ids[3], "channel.raid", {"to_broadcaster_user_id": me})
            _assert_error(response, 429)
        finally:
            for c in clients:
                await c.__aexit__(None, None, None)


async def test_unauthorized_channels_cost_1_and_total_cost_stops_at_10(simulator):
    token = (await simulator.issue_token())["access_token"]
    others = list(simulator.state.users_by_id)[3:]  # channels that never authorized the client
    async with helix(simulator, token) as api, eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
        own = await subscribe(
            api,
            session_id,
            "stream.online",
            {"broadcaster_user_id": simulator.users["broadcaster"].id},
        )
        assert own.json()["data"][0]["cost"] == 0  # the broadcaster authorized this client
        for channel in others[:10]:
            response = await subscribe(
                api, session_id, "stream.online", {"broadcaster_user_id": channel}
            )
            assert response.json()["data"][0]["cost"] == 1
        assert response.json()["total_cost"] == 10
        _assert_error(
            await subscribe(api, session_id, "stream.online", {"broadcaster_user_id": others[10]}),
            429,
        )


async def test_get_filters_and_delete(simulator):
    token = (await simulator.issue_token())["access_token"]
    me = simulator.users["broadcaster"].id
    async with helix(simulator, token) as api, eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
        cheer = (
            await subscribe(api, session_id, "channel.cheer", {"broadcaster_user_id": me})
        ).json()["data"][0]
        await subscribe(api, session_id, "stream.online", {"broadcaster_user_id": me})
        listed = (await api.get("/eventsub/subscriptions", params={"type": "channel.cheer"})).json()
        assert [s["id"] for s in listed["data"]] == [cheer["id"]]
        assert listed["total"] == 2
        _assert_error(
            await api.get("/eventsub/subscriptions", params={"type": "x", "status": "enabled"}), 400
        )
        assert (
            await api.delete("/eventsub/subscriptions", params={"id": cheer["id"]})
        ).status_code == 204
        _assert_error(await api.delete("/eventsub/subscriptions", params={"id": cheer["id"]}), 404)
        _assert_error(await api.delete("/eventsub/subscriptions"), 400)


async def test_rate_limit_bucket_runs_out_with_429_until_reset():
    async with run_simulator(ratelimit_per_minute=3) as sim:
        token = (await sim.issue_token())["access_token"]
        async with helix(sim, token) as api:
            statuses = [(await api.get("/users")).status_code for _ in range(3)]
            limited = await api.get("/users")
    assert statuses == [200, 200, 200]
    _assert_error(limited, 429)
    assert limited.headers["Ratelimit-Remaining"] == "0"
    assert int(limited.headers["Ratelimit-Reset"]) > time.time()


async def test_get_users_returns_own_user_or_the_named_ones(simulator):
    token = (await simulator.issue_token())["access_token"]
    async with helix(simulator, token) as api:
        own = (await api.get("/users")).json()["data"]
        named = (
            await api.get("/users", params=[("login", "mossmodding"), ("id", "852741963")])
        ).json()["data"]
    assert [u["login"] for u in own] == ["lunaria_live"]
    assert {u["login"] for u in named} == {"mossmodding", "streamcore_bot"}
    assert {"id", "login", "display_name", "type", "broadcaster_type", "created_at"} <= set(own[0])
    async with helix(simulator, await _app_token(simulator)) as api:
        _assert_error(await api.get("/users"), 400)


async def test_send_chat_message_reaches_chat_subscribers(simulator):
    bot = await simulator.issue_token("bot")
    broadcaster = simulator.users["broadcaster"].id
    async with helix(simulator, bot["access_token"]) as api, eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
        condition = {"broadcaster_user_id": broadcaster, "user_id": simulator.users["bot"].id}
        assert (
            await subscribe(api, session_id, "channel.chat.message", condition)
        ).status_code == 202
        body = {
            "broadcaster_id": broadcaster,
            "sender_id": simulator.users["bot"].id,
            "message": "hi chat Kappa",
        }
        response = await api.post("/chat/messages", json=body)
        assert response.status_code == 200
        sent = response.json()["data"][0]
        assert sent["is_sent"] is True
        event = (await client.next_of("notification"))["payload"]["event"]
        assert (
            event["message_id"] == sent["message_id"]
            and event["message"]["text"] == "hi chat Kappa"
        )
        assert [f["type"] for f in event["message"]["fragments"]] == ["text", "emote"]
        _assert_error(
            await api.post("/chat/messages", json={**body, "sender_id": broadcaster}), 403
        )
        assert (
            await api.post("/chat/messages", json={**body, "message": "x" * 501})
        ).status_code == 422
