"""session_reconnect with a real overlap, carried-over subscriptions, 4004 and 4007."""

from __future__ import annotations

import pytest

from simulator.testing import run_simulator
from tests.polling import eventually
from tests.simulator.helpers import control, eventsub, subscribed_follow

pytestmark = pytest.mark.slow  # the simulator serves on a port


async def test_reconnect_overlaps_and_moves_subscriptions_to_the_new_socket():
    async with (
        run_simulator(reconnect_grace_s=5) as sim,
        control(sim) as ctl,
        subscribed_follow(sim) as (old, old_id, api),
    ):
        response = await ctl.post(f"/sessions/{old_id}/reconnect")
        assert response.status_code == 200
        message = await old.next_of("session_reconnect")
        session = message["payload"]["session"]
        assert session["status"] == "reconnecting" and session["keepalive_timeout_seconds"] is None
        url = session["reconnect_url"]
        assert url.startswith(sim.ws_url + "?") and url == response.json()["reconnect_url"]

        # Until the new socket has its welcome, the old socket keeps delivering.
        before = await sim.trigger("channel.follow")
        overlap = await old.next_of("notification")
        assert overlap["metadata"]["message_id"] == before["message_ids"][0]

        async with eventsub(url) as new:
            welcome = await new.next_of("session_welcome")
            new_id = welcome["payload"]["session"]["id"]
            assert new_id != old_id
            # The notification sent during the overlap arrives again: same message id.
            replayed = await new.next_of("notification")
            assert replayed["metadata"]["message_id"] == before["message_ids"][0]
            await old.connection.close()

            after = await sim.trigger("channel.follow")
            assert after["delivered"] == 1
            moved = await new.next_of("notification")
            assert moved["payload"]["subscription"]["transport"]["session_id"] == new_id
            data = (await api.get("/eventsub/subscriptions")).json()["data"]
            assert [(s["status"], s["transport"]["session_id"]) for s in data] == [
                ("enabled", new_id)
            ]


async def test_ignored_reconnect_closes_the_old_socket_4004_and_fails_its_subscriptions():
    async with (
        run_simulator(reconnect_grace_s=0.5) as sim,
        control(sim) as ctl,
        subscribed_follow(sim) as (old, old_id, api),
    ):
        await ctl.post(f"/sessions/{old_id}/reconnect")
        message = await old.next_of("session_reconnect")
        assert await old.closed_with() == 4004
        await eventually(
            lambda: sim.state.sessions[old_id].status == "closed", what="the session closed"
        )
        data = (await api.get("/eventsub/subscriptions")).json()["data"]
        assert data[0]["status"] == "websocket_failed_to_reconnect"
        # The URL expired with the grace time: connecting now is an invalid reconnect.
        async with eventsub(message["payload"]["session"]["reconnect_url"]) as late:
            assert await late.closed_with() == 4007


async def test_old_socket_left_open_after_moving_is_closed_4004_but_subscriptions_live_on():
    async with (
        run_simulator(reconnect_grace_s=0.5) as sim,
        control(sim) as ctl,
        subscribed_follow(sim) as (old, old_id, _),
    ):
        await ctl.post(f"/sessions/{old_id}/reconnect")
        url = (await old.next_of("session_reconnect"))["payload"]["session"]["reconnect_url"]
        async with eventsub(url) as new:
            await new.welcome()
            assert await old.closed_with() == 4004
            result = await sim.trigger("channel.follow")
            assert result["delivered"] == 1
            await new.next_of("notification")


async def test_reconnect_url_is_single_use_and_invalid_ones_close_4007(simulator):
    async with eventsub(simulator.ws_url + "?reconnect=not-a-real-token") as client:
        assert await client.closed_with() == 4007
    async with control(simulator) as ctl, subscribed_follow(simulator) as (old, old_id, _):
        await ctl.post(f"/sessions/{old_id}/reconnect")
        url = (await old.next_of("session_reconnect"))["payload"]["session"]["reconnect_url"]
        async with eventsub(url) as first:
            await first.welcome()
            async with eventsub(url) as second:
                assert await second.closed_with() == 4007
