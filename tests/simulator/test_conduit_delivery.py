"""Delivery over a conduit's WebSocket shards: routing, one retry, drops, disabled shards."""

from __future__ import annotations

import json

import pytest

from simulator.conduits import shard_index
from simulator.testing import run_simulator
from simulator.users import OTHER_CHANNELS
from tests.polling import eventually
from tests.simulator.conduit_helpers import (
    app_api,
    assign,
    create_conduit,
    sharded_conduit,
    shards_of,
    sockets,
    subscribe_conduit,
)
from tests.simulator.helpers import control, eventsub

pytestmark = pytest.mark.slow  # the simulator serves on a port

CHANNELS = [channel.id for channel in OTHER_CHANNELS[:8]]
SUBSCRIPTION_FIELDS = {"id", "status", "type", "version", "cost", "condition", "transport"}


def _channel_on(shard: int, shard_count: int) -> str:
    return next(c for c in CHANNELS if shard_index(c, shard_count) == shard)


async def _online(api, conduit_id, channel):
    response = await subscribe_conduit(
        api, conduit_id, "stream.online", {"broadcaster_user_id": channel}
    )
    assert response.status_code == 202, response.text


async def _trigger(ctl, channel):
    condition = {"broadcaster_user_id": channel}
    response = await ctl.post("/trigger", json={"type": "stream.online", "condition": condition})
    assert response.status_code == 200, response.text
    return response.json()


async def _shard_status(api, conduit_id, shard_id):
    return {s["id"]: s for s in await shards_of(api, conduit_id)}[shard_id]


async def _status_is(api, conduit_id, shard_id, status):
    return (await _shard_status(api, conduit_id, shard_id))["status"] == status


async def test_each_broadcaster_always_lands_on_the_shard_its_id_hashes_to(simulator):
    async with (
        sharded_conduit(simulator, 3) as (api, conduit_id, opened),
        control(simulator) as ctl,
    ):
        for channel in CHANNELS:
            await _online(api, conduit_id, channel)
        home = {channel: shard_index(channel, 3) for channel in CHANNELS}
        assert len(set(home.values())) > 1, "the channels should spread over the shards"
        for _ in range(2):
            for channel in CHANNELS:
                assert (await _trigger(ctl, channel))["delivered"] == 1

        for shard, (client, session_id) in enumerate(opened):
            mine = [c for c in CHANNELS if home[c] == shard]
            got = [await client.next_of("notification") for _ in range(2 * len(mine))]
            assert sorted(m["payload"]["event"]["broadcaster_user_id"] for m in got) == sorted(
                mine * 2
            )
            # Nothing for another shard's channels came down this socket.
            assert len(simulator.state.sessions[session_id].recent) == 2 * len(mine)
            for message in got:
                subscription = message["payload"]["subscription"]
                assert set(subscription) >= SUBSCRIPTION_FIELDS
                assert subscription["transport"] == {"method": "conduit", "conduit_id": conduit_id}
                assert message["metadata"]["subscription_type"] == "stream.online"


async def test_a_disconnected_shards_notification_is_retried_on_another_with_its_id(simulator):
    channel = _channel_on(0, 2)
    async with (
        sharded_conduit(simulator, 2) as (api, conduit_id, opened),
        control(simulator) as ctl,
    ):
        await _online(api, conduit_id, channel)
        (first, first_id), (second, _) = opened
        await first.connection.close()
        await eventually(
            lambda: _status_is(api, conduit_id, "0", "websocket_disconnected"),
            what="shard 0 disabled",
        )
        assert not simulator.state.sessions[first_id].is_open
        result = await _trigger(ctl, channel)
        message = await second.next_of("notification")
        conduits = (await ctl.get("/conduits")).json()
    assert result["delivered"] == 1
    assert message["metadata"]["message_id"] == result["message_ids"][0]
    assert message["payload"]["event"]["broadcaster_user_id"] == channel
    assert conduits["dropped"] == 0


async def test_a_shard_that_cannot_take_the_message_passes_the_same_message_on(simulator):
    channel = _channel_on(0, 2)
    async with (
        sharded_conduit(simulator, 2) as (api, conduit_id, opened),
        control(simulator) as ctl,
    ):
        await _online(api, conduit_id, channel)
        (_, first_id), (second, second_id) = opened
        # Shard 0 stays enabled but its socket takes nothing: the first attempt fails.
        assert (await ctl.post(f"/sessions/{first_id}/silence", json={"silent": True})).is_success
        result = await _trigger(ctl, channel)
        message = await second.next_of("notification")
    assert result["delivered"] == 1
    assert message["metadata"]["message_id"] == result["message_ids"][0]
    sent = [json.loads(text) for _, text in simulator.state.sessions[second_id].recent]
    assert [m["metadata"]["message_id"] for m in sent] == result["message_ids"]


async def test_a_notification_no_shard_can_take_is_dropped_and_counted(simulator):
    channel = _channel_on(0, 2)
    async with (
        sharded_conduit(simulator, 2) as (api, conduit_id, opened),
        control(simulator) as ctl,
    ):
        await _online(api, conduit_id, channel)
        for client, _ in opened:
            await client.connection.close()

        async def both_disabled() -> bool:
            statuses = {s["status"] for s in await shards_of(api, conduit_id)}
            return statuses == {"websocket_disconnected"}

        await eventually(both_disabled, what="both shards disabled")
        first = await _trigger(ctl, channel)
        second = await _trigger(ctl, channel)
        listed = (await ctl.get("/conduits")).json()
    assert first == second == {"delivered": 0, "message_ids": []}
    assert listed["dropped"] == 2 and listed["data"][0]["dropped"] == 2


@pytest.mark.parametrize(
    ("close", "status"),
    [
        (None, "websocket_disconnected"),  # the client closes the socket
        (4005, "websocket_network_timeout"),
        (4000, "websocket_internal_error"),
        (4002, "websocket_failed_ping_pong"),
    ],
)
async def test_a_closed_socket_disables_only_its_shard(simulator, close, status):
    me = simulator.users["broadcaster"].id
    async with (
        sharded_conduit(simulator, 2) as (api, conduit_id, opened),
        control(simulator) as ctl,
    ):
        await _online(api, conduit_id, me)
        (first, first_id), _ = opened
        if close is None:
            await first.connection.close()
        else:
            await ctl.post(f"/sessions/{first_id}/close", json={"code": close})
            assert await first.closed_with() == close
        await eventually(lambda: _status_is(api, conduit_id, "0", status), what=f"shard 0 {status}")
        shard = await _shard_status(api, conduit_id, "0")
        other = await _shard_status(api, conduit_id, "1")
        subscriptions = (await api.get("/eventsub/subscriptions")).json()["data"]
    transport = shard["transport"]
    assert transport["method"] == "websocket" and transport["session_id"] == first_id
    assert transport["connected_at"] and transport["disconnected_at"]
    assert other["status"] == "enabled"
    assert [s["status"] for s in subscriptions] == ["enabled"]  # subscriptions survive


async def test_a_disabled_shard_is_announced_to_conduit_shard_disabled_subscribers(simulator):
    kind = "conduit.shard.disabled"
    async with sharded_conduit(simulator, 2) as (api, conduit_id, opened):
        elsewhere = await create_conduit(api, 1)
        mine = {"client_id": simulator.client_id}
        for condition in (
            mine,
            {**mine, "conduit_id": conduit_id},
            {**mine, "conduit_id": elsewhere},
        ):
            response = await subscribe_conduit(api, conduit_id, kind, condition)
            assert response.status_code == 202, response.text
        (first, first_id), (second, second_id) = opened
        await first.connection.close()
        messages = [await second.next_of("notification") for _ in range(2)]
    for message in messages:
        assert message["metadata"]["subscription_type"] == kind
        assert message["metadata"]["subscription_version"] == "1"
        event = message["payload"]["event"]
        assert event["conduit_id"] == conduit_id and event["shard_id"] == "0"
        assert event["status"] == "websocket_disconnected"
        transport = event["transport"]
        assert transport["method"] == "websocket" and transport["session_id"] == first_id
        assert transport["connected_at"] and transport["disconnected_at"]
    conditions = [m["payload"]["subscription"]["condition"] for m in messages]
    assert {"client_id": simulator.client_id, "conduit_id": elsewhere} not in conditions
    # The subscription about another conduit got nothing.
    assert len(simulator.state.sessions[second_id].recent) == 2


async def test_an_unassigned_session_closes_4003_but_a_shards_session_stays():
    async with (
        run_simulator(subscribe_deadline_s=1) as sim,
        app_api(sim) as api,
        sockets(sim, 2) as [(unused, _), (assigned, assigned_id)],
    ):
        conduit_id = await create_conduit(api, 1)
        response = await assign(api, conduit_id, {"0": assigned_id})
        assert response.json()["errors"] == []
        # The unassigned socket closing proves the deadline has passed for both.
        assert await unused.closed_with() == 4003
        assert sim.state.sessions[assigned_id].is_open
        await _online(api, conduit_id, sim.users["broadcaster"].id)
        await sim.trigger("stream.online")
        message = await assigned.next_of("notification")
    assert message["payload"]["subscription"]["transport"]["conduit_id"] == conduit_id


async def test_a_shard_follows_its_session_through_a_reconnect():
    me_channel = "12826"
    async with (
        run_simulator(reconnect_grace_s=5) as sim,
        sharded_conduit(sim, 1) as (api, conduit_id, [(old, old_id)]),
        control(sim) as ctl,
    ):
        await _online(api, conduit_id, me_channel)
        await ctl.post(f"/sessions/{old_id}/reconnect")
        reconnect = await old.next_of("session_reconnect")
        async with eventsub(reconnect["payload"]["session"]["reconnect_url"]) as new:
            new_id = await new.welcome()
            await old.connection.close()
            await eventually(lambda: not sim.state.sessions[old_id].is_open, what="old closed")
            shard = await _shard_status(api, conduit_id, "0")
            assert shard["status"] == "enabled" and shard["transport"]["session_id"] == new_id
            await sim.trigger("stream.online")
            message = await new.next_of("notification")
    assert message["payload"]["event"]["broadcaster_user_id"] == me_channel
