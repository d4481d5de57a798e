"""One backend, many channels: conduit subscriptions for synthetic broadcasters, per-channel
triggers routed by the broadcaster-id hash, and Get EventSub Subscriptions paging through
thousands of them."""

from __future__ import annotations

import pytest

from simulator.conduits import shard_index
from simulator.testing import run_simulator
from tests.simulator.conduit_helpers import (
    assert_error,
    sharded_conduit,
    subscribe_conduit,
)
from tests.simulator.helpers import control

pytestmark = pytest.mark.slow  # the simulator serves on a port

SUBSCRIPTIONS = "/eventsub/subscriptions"


def channel_subscriptions(channel: str, bot: str) -> list[tuple[str, str, dict[str, str]]]:
    """(type, version, condition) of what a multi-channel backend subscribes to per channel."""
    return [
        ("channel.follow", "2", {"broadcaster_user_id": channel, "moderator_user_id": channel}),
        ("channel.subscribe", "1", {"broadcaster_user_id": channel}),
        ("channel.cheer", "1", {"broadcaster_user_id": channel}),
        ("channel.raid", "1", {"to_broadcaster_user_id": channel}),
        ("channel.chat.message", "1", {"broadcaster_user_id": channel, "user_id": bot}),
    ]


async def test_conduit_subscriptions_for_authorized_channels_cost_nothing_and_route_by_hash(
    simulator,
):
    bot = simulator.users["bot"].id
    await simulator.issue_token("bot", scopes=["user:read:chat", "user:bot"])
    async with (
        control(simulator) as ctl,
        sharded_conduit(simulator, 2) as (api, conduit_id, opened),
    ):
        created = await ctl.post("/users", json={"count": 12, "prefix": "mc", "authorize": True})
        channels = created.json()["data"]
        for channel in channels:
            for sub_type, version, condition in channel_subscriptions(channel["id"], bot):
                response = await subscribe_conduit(api, conduit_id, sub_type, condition, version)
                assert response.status_code == 202, response.text
                assert response.json()["data"][0]["cost"] == 0
                assert response.json()["data"][0]["transport"] == {
                    "method": "conduit",
                    "conduit_id": conduit_id,
                }
        stranger = (await ctl.post("/users", json={"logins": ["strangerchan"]})).json()["data"][0]
        online = await subscribe_conduit(
            api, conduit_id, "stream.online", {"broadcaster_user_id": stranger["id"]}
        )
        subs = await subscribe_conduit(
            api, conduit_id, "channel.subscribe", {"broadcaster_user_id": stranger["id"]}
        )
        assert online.status_code == 202 and online.json()["data"][0]["cost"] == 1
        assert online.json()["total_cost"] == 1
        assert_error(subs, 403)  # needs the stranger's own grant

        for channel in channels[:4]:
            for sub_type in ("channel.cheer", "channel.raid", "channel.follow"):
                fired = await ctl.post(
                    "/trigger", json={"type": sub_type, "broadcaster_user_id": channel["id"]}
                )
                assert fired.status_code == 200 and fired.json()["delivered"] == 1, fired.text
                client, _ = opened[shard_index(channel["id"], 2)]
                message = await client.next_of("notification")
                assert message["metadata"]["subscription_type"] == sub_type
                event = message["payload"]["event"]
                key = "to_broadcaster_user" if sub_type == "channel.raid" else "broadcaster_user"
                assert event[f"{key}_id"] == channel["id"]
                assert event[f"{key}_login"] == channel["login"]
                assert event[f"{key}_name"] == channel["display_name"]
        everyone = await ctl.post("/trigger", json={"type": "channel.subscribe"})
        assert everyone.json()["delivered"] == len(channels)


async def test_thousands_of_conduit_subscriptions_page_and_filter():
    """1,000 channels x 5 types; created in-process (the HTTP path is the same code), then read
    back through Helix, page by page, with and without filters."""
    async with run_simulator() as sim, control(sim) as ctl:
        bot = sim.users["bot"].id
        await sim.issue_token("bot", scopes=["user:read:chat", "user:bot"])
        channels = (
            await ctl.post("/users", json={"count": 1000, "prefix": "scale", "authorize": True})
        ).json()["data"]
        async with sharded_conduit(sim, 1) as (api, conduit_id, [(client, _)]):
            state = sim.state
            app = state.oauth.valid_token(api.headers["Authorization"].split()[1])
            assert app is not None
            transport = {"method": "conduit", "conduit_id": conduit_id}
            created = []
            for channel in channels:
                for sub_type, version, condition in channel_subscriptions(channel["id"], bot):
                    body = {"type": sub_type, "version": version, "condition": condition}
                    sub = state.subscriptions.create(
                        app, {**body, "transport": transport}, state.open_session_or_none,
                        state.conduits.owns,
                    )  # fmt: skip
                    created.append(sub.id)

            seen: list[str] = []
            pages = 0
            params: dict[str, str] = {}
            while True:
                page = await api.get(SUBSCRIPTIONS, params=params)
                assert page.status_code == 200, page.text
                body = page.json()
                assert body["total"] == 5000 and body["total_cost"] == 0
                assert body["max_total_cost"] == 10_000
                assert len(body["data"]) <= 100
                seen += [s["id"] for s in body["data"]]
                pages += 1
                if "cursor" not in body["pagination"]:
                    assert body["pagination"] == {}
                    break
                params = {"after": body["pagination"]["cursor"]}
            assert seen == created and pages == 50

            cheers, params = [], {"type": "channel.cheer"}
            while True:
                body = (await api.get(SUBSCRIPTIONS, params=params)).json()
                cheers += body["data"]
                if not body["pagination"]:
                    break
                params = {"type": "channel.cheer", "after": body["pagination"]["cursor"]}
            assert len(cheers) == 1000 and {s["type"] for s in cheers} == {"channel.cheer"}

            one = channels[500]["id"]
            named = (await api.get(SUBSCRIPTIONS, params={"user_id": one})).json()["data"]
            assert sorted(s["type"] for s in named) == sorted(
                t for t, _, _ in channel_subscriptions(one, bot)
            )
            assert_error(await api.get(SUBSCRIPTIONS, params={"after": "not-a-cursor"}), 400)

            fired = await ctl.post(
                "/trigger", json={"type": "channel.subscribe", "broadcaster_user_id": one}
            )
            assert fired.json()["delivered"] == 1
            message = await client.next_of("notification")
            assert message["payload"]["event"]["broadcaster_user_login"] == "scale0501"
