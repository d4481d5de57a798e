"""Each control API call, with its effect as a plain client sees it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from simulator.subscriptions import REVOCATION_STATUSES
from simulator.testing import run_simulator
from tests.polling import eventually
from tests.simulator.helpers import (
    control,
    eventsub,
    helix,
    oauth,
    subscribe,
    subscribed_follow,
)

pytestmark = pytest.mark.slow  # the simulator serves on a port


async def test_trigger_applies_overrides_and_uses_the_subscription_condition(simulator):
    me = simulator.users["broadcaster"].id
    token = (await simulator.issue_token())["access_token"]
    async with (
        helix(simulator, token) as api,
        eventsub(simulator.ws_url) as client,
        control(simulator) as ctl,
    ):
        session_id = await client.welcome()
        await subscribe(api, session_id, "channel.cheer", {"broadcaster_user_id": me})
        result = (
            await ctl.post("/trigger", json={"type": "channel.cheer", "event": {"bits": 500}})
        ).json()
        message = await client.next_of("notification")
    assert result["delivered"] == 1 and result["message_ids"] == [message["metadata"]["message_id"]]
    assert message["metadata"]["subscription_type"] == "channel.cheer"
    assert message["metadata"]["subscription_version"] == "1"
    event = message["payload"]["event"]
    assert event["bits"] == 500 and event["broadcaster_user_id"] == me


async def test_trigger_goes_only_to_subscriptions_matching_type_version_and_condition(simulator):
    me = simulator.users["broadcaster"].id
    token = (await simulator.issue_token())["access_token"]
    async with (
        helix(simulator, token) as api,
        eventsub(simulator.ws_url) as client,
        control(simulator) as ctl,
    ):
        session_id = await client.welcome()
        await subscribe(api, session_id, "channel.raid", {"to_broadcaster_user_id": me})
        await subscribe(api, session_id, "channel.raid", {"from_broadcaster_user_id": me})
        only_to = {"type": "channel.raid", "condition": {"to_broadcaster_user_id": me}}
        assert (await ctl.post("/trigger", json=only_to)).json()["delivered"] == 1
        raid = (await client.next_of("notification"))["payload"]["event"]
        assert raid["to_broadcaster_user_id"] == me and raid["from_broadcaster_user_id"] != me
        assert (await ctl.post("/trigger", json={"type": "channel.follow"})).json()[
            "delivered"
        ] == 0
        assert (
            await ctl.post("/trigger", json={"type": "channel.raid", "version": "2"})
        ).status_code == 400


async def test_burst_delivers_count_events_at_the_rate(simulator):
    async with subscribed_follow(simulator) as (client, _, _), control(simulator) as ctl:
        result = (
            await ctl.post("/trigger", json={"type": "channel.follow", "count": 5, "rate": 50})
        ).json()
        ids = [(await client.next_of("notification"))["metadata"]["message_id"] for _ in range(5)]
    assert result["delivered"] == 5 and ids == result["message_ids"] and len(set(ids)) == 5


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (4000, "websocket_internal_error"),
        (4005, "websocket_network_timeout"),
        (4006, "websocket_network_error"),
        (4007, "websocket_failed_to_reconnect"),
    ],
)
async def test_close_with_a_code_reaches_the_client_and_disables_subscriptions(
    simulator, code, status
):
    async with subscribed_follow(simulator) as (client, session_id, api), control(simulator) as ctl:
        assert (
            await ctl.post(f"/sessions/{session_id}/close", json={"code": code})
        ).status_code == 200
        assert await client.closed_with() == code
        await eventually(
            lambda: simulator.state.sessions[session_id].status == "closed",
            what="the session closed",
        )
        assert (await api.get("/eventsub/subscriptions")).json()["data"][0]["status"] == status


async def test_paused_keepalives_stop_and_resume():
    async with (
        run_simulator(min_keepalive_s=1) as sim,
        control(sim) as ctl,
        subscribed_follow(sim, f"{sim.ws_url}?keepalive_timeout_seconds=1") as (
            client,
            session_id,
            _,
        ),
    ):
        await client.next_of("session_keepalive")
        await ctl.post(f"/sessions/{session_id}/keepalives", json={"paused": True})
        paused_at = time.monotonic()
        await sim.trigger("channel.follow")  # notifications still flow
        await client.next_of("notification")
        with pytest.raises(TimeoutError):
            await client.next(within=2.5)  # 2.5 keepalive timeouts of silence
        await ctl.post(f"/sessions/{session_id}/keepalives", json={"paused": False})
        await client.next_of("session_keepalive")
        assert time.monotonic() - paused_at >= 2.5


async def test_silent_session_sends_nothing_at_all():
    async with (
        run_simulator(min_keepalive_s=1) as sim,
        control(sim) as ctl,
        subscribed_follow(sim, f"{sim.ws_url}?keepalive_timeout_seconds=1") as (
            client,
            session_id,
            _,
        ),
    ):
        await ctl.post(f"/sessions/{session_id}/silence", json={"silent": True})
        assert (await sim.trigger("channel.follow"))["delivered"] == 0
        with pytest.raises(TimeoutError):
            await client.next(within=2.5)
        await ctl.post(f"/sessions/{session_id}/silence", json={"silent": False})
        await client.next_of("session_keepalive")


@pytest.mark.parametrize("status", REVOCATION_STATUSES)
async def test_revocation_message_carries_the_status_and_stops_deliveries(simulator, status):
    async with subscribed_follow(simulator) as (client, _, api), control(simulator) as ctl:
        sub_id = (await api.get("/eventsub/subscriptions")).json()["data"][0]["id"]
        response = await ctl.post(f"/subscriptions/{sub_id}/revoke", json={"status": status})
        assert response.json()["delivered"] is True
        message = await client.next_of("revocation")
        assert set(message["payload"]) == {"subscription"}
        assert message["payload"]["subscription"]["status"] == status
        assert message["metadata"]["subscription_type"] == "channel.follow"
        assert (await simulator.trigger("channel.follow"))["delivered"] == 0
        assert (await api.get("/eventsub/subscriptions")).json()["data"][0]["status"] == status


async def test_revoking_a_user_kills_tokens_and_revokes_their_subscriptions(simulator):
    async with subscribed_follow(simulator) as (client, _, api), control(simulator) as ctl:
        await ctl.post("/tokens/revoke", json={"user": "broadcaster"})
        message = await client.next_of("revocation")
        assert message["payload"]["subscription"]["status"] == "authorization_revoked"
        assert (await api.get("/eventsub/subscriptions")).status_code == 401


async def test_expire_or_revoke_one_token_gives_401(simulator):
    first = (await simulator.issue_token())["access_token"]
    second = (await simulator.issue_token())["access_token"]
    async with control(simulator) as ctl, oauth(simulator) as client:
        await ctl.post("/tokens/expire", json={"access_token": first})
        await ctl.post("/tokens/revoke", json={"access_token": second})
        for token in (first, second):
            assert (
                await client.get("/validate", headers={"Authorization": f"OAuth {token}"})
            ).status_code == 401
        listed = (await ctl.get("/tokens")).json()["data"]
    assert sorted(t["status"] for t in listed) == ["expired", "revoked"]
    assert all(first not in str(t) and second not in str(t) for t in listed)  # redacted
    assert {t["last4"] for t in listed} == {first[-4:], second[-4:]}


async def test_issue_token_through_control(simulator):
    async with control(simulator) as ctl, helix(simulator) as api:
        token = (
            await ctl.post(
                "/tokens/issue", json={"user": "moderator", "scopes": ["user:read:chat"]}
            )
        ).json()
        api.headers["Authorization"] = f"Bearer {token['access_token']}"
        assert (await api.get("/users")).json()["data"][0]["login"] == "mossmodding"
    assert token["scope"] == ["user:read:chat"]


async def test_duplicate_resends_the_same_message_id(simulator):
    async with subscribed_follow(simulator) as (client, session_id, _), control(simulator) as ctl:
        await simulator.trigger("channel.follow")
        original = await client.next_of("notification")
        assert (await ctl.post("/duplicate", json={"session_id": session_id})).status_code == 200
        again = await client.next_of("notification")
    assert again == original


async def test_stale_delivers_a_message_older_than_ten_minutes(simulator):
    async with subscribed_follow(simulator) as (client, _, _), control(simulator) as ctl:
        await ctl.post("/stale", json={"type": "channel.follow"})
        message = await client.next_of("notification")
    sent = datetime.fromisoformat(message["metadata"]["message_timestamp"])
    assert (datetime.now(UTC) - sent).total_seconds() > 600


async def test_device_approval_through_control():
    async with (
        run_simulator(device_poll_interval_s=0.01) as sim,
        control(sim) as ctl,
        oauth(sim) as client,
    ):
        start = (
            await client.post("/device", data={"client_id": sim.client_id, "scopes": "user:bot"})
        ).json()
        approved = await ctl.post(
            "/device/approve", json={"user_code": start["user_code"], "user": "bot"}
        )
        assert approved.status_code == 200
        form = {
            "client_id": sim.client_id,
            "device_code": start["device_code"],
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        }
        token = (await client.post("/token", data=form)).json()["access_token"]
        assert (await client.get("/validate", headers={"Authorization": f"OAuth {token}"})).json()[
            "login"
        ] == "streamcore_bot"


async def test_list_subscriptions_shows_statuses(simulator):
    async with subscribed_follow(simulator) as (client, session_id, _), control(simulator) as ctl:
        await client.connection.close()
        await eventually(
            lambda: simulator.state.sessions[session_id].status == "closed",
            what="the session closed",
        )
        subs = (await ctl.get("/subscriptions")).json()["data"]
    assert [s["status"] for s in subs] == ["websocket_disconnected"]
