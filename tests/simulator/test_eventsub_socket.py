"""EventSub WebSocket behaviour seen from a plain client: welcome, keepalives, close codes."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
from datetime import datetime

import pytest
from websockets.exceptions import InvalidStatus

from simulator.testing import run_simulator
from tests.polling import eventually
from tests.rawws import PING, TEXT, RawClient, close_code
from tests.simulator.helpers import (
    WAIT_S,
    control,
    eventsub,
    helix,
    subscribe,
    subscribed_follow,
)

pytestmark = pytest.mark.slow  # the simulator serves on a port

RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


async def test_welcome_has_an_opaque_session_id_and_the_default_keepalive(simulator):
    async with eventsub(simulator.ws_url) as client:
        message = await client.next()
    metadata, session = message["metadata"], message["payload"]["session"]
    assert metadata["message_type"] == "session_welcome"
    assert RFC3339_NANO.match(metadata["message_timestamp"])
    assert "subscription_type" not in metadata
    assert session["status"] == "connected"
    assert session["keepalive_timeout_seconds"] == 10
    assert session["reconnect_url"] is None
    assert RFC3339_NANO.match(session["connected_at"])
    datetime.fromisoformat(session["connected_at"])  # Python 3.11 parses 9 digits + Z
    assert not re.match(r"^[0-9a-f]{8}_[0-9a-f]{8}$", session["id"])  # not the CLI's shape
    base64.urlsafe_b64decode(session["id"] + "=" * (-len(session["id"]) % 4))


@pytest.mark.parametrize(("asked", "granted"), [("3", 10), ("45", 45), ("5000", 600), ("-1", 10)])
async def test_keepalive_out_of_range_uses_the_nearest_valid_value(simulator, asked, granted):
    async with eventsub(f"{simulator.ws_url}?keepalive_timeout_seconds={asked}") as client:
        message = await client.next()
    assert message["payload"]["session"]["keepalive_timeout_seconds"] == granted


async def test_non_numeric_keepalive_is_refused_at_the_handshake(simulator):
    with pytest.raises(InvalidStatus) as refused:
        async with eventsub(f"{simulator.ws_url}?keepalive_timeout_seconds=soon"):
            pass
    assert refused.value.response.status_code == 400


async def test_keepalive_is_sent_only_after_a_full_quiet_timeout():
    async with (
        run_simulator(min_keepalive_s=1) as sim,
        subscribed_follow(sim, f"{sim.ws_url}?keepalive_timeout_seconds=1") as (client, _, _),
    ):
        for _ in range(3):
            await sim.trigger("channel.follow")
            await client.next_of("notification")
        await client.next_of("session_keepalive", within=WAIT_S)
        await client.next_of("session_keepalive", within=WAIT_S)
    # Every keepalive was stamped at least a full timeout after the message before it (server
    # timestamps, so a slow test machine cannot make the gap look shorter than it was).
    stamps = [
        (datetime.fromisoformat(m["metadata"]["message_timestamp"]), m["metadata"]["message_type"])
        for _, m in client.received
    ]
    for (before, _), (at, kind) in itertools.pairwise(stamps):
        if kind == "session_keepalive":
            assert (at - before).total_seconds() >= 0.95, stamps


async def test_inbound_data_frame_closes_4001_and_disables_subscriptions(simulator):
    async with subscribed_follow(simulator) as (client, session_id, api):
        await client.connection.send("hello?")
        assert await client.closed_with() == 4001
        await eventually(
            lambda: simulator.state.sessions[session_id].status == "closed",
            what="the session closed",
        )
        data = (await api.get("/eventsub/subscriptions")).json()["data"]
    assert data[0]["status"] == "websocket_received_inbound_traffic"
    assert "disconnected_at" in data[0]["transport"]


async def test_no_subscription_within_the_deadline_closes_4003():
    async with (
        run_simulator(min_keepalive_s=1) as sim,
        eventsub(f"{sim.ws_url}?keepalive_timeout_seconds=1") as client,
    ):
        await client.welcome()
        assert await client.closed_with() == 4003


async def test_subscribing_in_time_keeps_the_connection_open():
    async with (
        run_simulator(min_keepalive_s=1) as sim,
        subscribed_follow(sim, f"{sim.ws_url}?keepalive_timeout_seconds=1") as (
            client,
            session_id,
            _,
        ),
    ):
        await client.next_of("session_keepalive")
        await client.next_of("session_keepalive")
        assert sim.state.sessions[session_id].status == "connected"


async def test_client_disconnect_disables_subscriptions_and_get_keeps_listing_them(simulator):
    async with subscribed_follow(simulator) as (client, session_id, api):
        await client.connection.close()
        await eventually(
            lambda: simulator.state.sessions[session_id].status == "closed",
            what="the session closed",
        )
        data = (await api.get("/eventsub/subscriptions")).json()["data"]
        assert [s["status"] for s in data] == ["websocket_disconnected"]
        assert data[0]["transport"]["disconnected_at"]
        # Deliveries stop: nothing matches a disabled subscription.
        assert (await simulator.trigger("channel.follow"))["delivered"] == 0


async def test_subscribing_to_a_closed_session_is_refused(simulator):
    token = (await simulator.issue_token())["access_token"]
    async with eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
    await eventually(
        lambda: simulator.state.sessions[session_id].status == "closed", what="the session closed"
    )
    async with helix(simulator, token) as api:
        response = await subscribe(
            api,
            session_id,
            "stream.online",
            {"broadcaster_user_id": simulator.users["broadcaster"].id},
        )
    assert response.status_code == 400


# -- ping/pong: a raw client that never answers Ping ---------------------------------------


async def test_client_that_ignores_pings_is_closed_4002_and_subscriptions_disabled():
    async with run_simulator(ping_interval_s=0.2, ping_timeout_s=0.5) as sim:
        raw = await RawClient.connect(sim.port, "/ws", host=sim.host)
        opcode, payload = await raw.read_frame(WAIT_S)
        assert opcode == TEXT  # the welcome, as text
        session_id = json.loads(payload)["payload"]["session"]["id"]
        token = (await sim.issue_token())["access_token"]
        async with helix(sim, token) as api:
            condition = {"broadcaster_user_id": sim.users["broadcaster"].id}
            assert (await subscribe(api, session_id, "stream.online", condition)).status_code == 202
            frames = await raw.read_frames_until_close(WAIT_S)
            raw.close()
            seen_ping = any(opcode == PING for opcode, _ in frames)
            closed = close_code(frames)
            assert seen_ping and closed is not None and closed[0] == 4002
            await eventually(
                lambda: sim.state.sessions[session_id].status == "closed", what="the session closed"
            )
            data = (await api.get("/eventsub/subscriptions")).json()["data"]
        assert data[0]["status"] == "websocket_failed_ping_pong"


async def test_a_client_that_answers_pings_stays_connected():
    async with (
        run_simulator(ping_interval_s=0.1, ping_timeout_s=1) as sim,
        subscribed_follow(sim) as (
            client,
            session_id,
            _,
        ),
    ):
        # websockets answers Pings itself; several ping rounds pass while we wait for events.
        for _ in range(3):
            await sim.trigger("channel.follow")
            await client.next_of("notification")
            await asyncio.sleep(0.2)
        assert sim.state.sessions[session_id].status == "connected"


async def test_control_lists_sessions_with_their_status(simulator):
    async with subscribed_follow(simulator) as (_, session_id, _), control(simulator) as ctl:
        sessions = (await ctl.get("/sessions")).json()["data"]
    entry = next(s for s in sessions if s["id"] == session_id)
    assert entry["status"] == "connected" and entry["subscriptions"] == 1
