"""Helix's token buckets, set at run time: one per client for app tokens, one per (client,
user) for user tokens; every answer carries the Ratelimit-* headers, an empty bucket gives 429,
and creating EventSub subscriptions takes points like any call."""

from __future__ import annotations

import time

import pytest

from tests.simulator.conduit_helpers import (
    app_api,
    assert_error,
    create_conduit,
    subscribe_conduit,
)
from tests.simulator.helpers import control, helix

pytestmark = pytest.mark.slow  # the simulator serves on a port

BUCKET_FIELDS = {"client_id", "user_id", "kind", "limit", "remaining", "reset"}


def _headers(response) -> tuple[int, int, int]:
    return (
        int(response.headers["Ratelimit-Limit"]),
        int(response.headers["Ratelimit-Remaining"]),
        int(response.headers["Ratelimit-Reset"]),
    )


async def test_the_capacity_is_settable_and_subscription_creation_spends_points(simulator):
    async with control(simulator) as ctl, app_api(simulator) as api:
        conduit_id = await create_conduit(api, 1)  # one point at the default capacity
        channels = (await ctl.post("/users", json={"count": 5, "authorize": True})).json()["data"]
        set_to = await ctl.post("/ratelimit", json={"per_minute": 4})
        assert set_to.status_code == 200
        assert set_to.json()["per_minute"] == 4
        app_bucket = next(b for b in set_to.json()["buckets"] if b["kind"] == "app")
        assert set(app_bucket) == BUCKET_FIELDS
        assert app_bucket["limit"] == 4 and app_bucket["remaining"] == 4  # starts full

        answers = [
            await subscribe_conduit(
                api, conduit_id, "channel.cheer", {"broadcaster_user_id": channel["id"]}
            )
            for channel in channels
        ]
        assert [a.status_code for a in answers] == [202, 202, 202, 202, 429]
        assert [_headers(a)[1] for a in answers] == [3, 2, 1, 0, 0]
        assert all(_headers(a)[0] == 4 for a in answers)
        assert _headers(answers[-1])[2] > time.time()  # a Unix epoch second, not a duration
        assert_error(answers[-1], 429)
        assert len(simulator.state.subscriptions.by_id) == 4  # the refused one was not made

        # Each user token has its own bucket, apart from the app's and from other users'.
        for channel in channels[:2]:
            async with helix(simulator, channel["access_token"]) as user_api:
                mine = await user_api.get("/users")
            assert mine.status_code == 200 and _headers(mine)[:2] == (4, 3)

        refilled = await ctl.post("/ratelimit", json={"refill": True})
        assert all(b["remaining"] == b["limit"] == 4 for b in refilled.json()["buckets"])
        again = await api.get("/eventsub/subscriptions")
        assert again.status_code == 200 and _headers(again)[:2] == (4, 3)
        listed = await ctl.get("/ratelimit")
        kinds = sorted(b["kind"] for b in listed.json()["buckets"])
        assert kinds == ["app", "user", "user"]
        assert {b["user_id"] for b in listed.json()["buckets"] if b["kind"] == "user"} == {
            channels[0]["id"],
            channels[1]["id"],
        }
        assert (await ctl.post("/ratelimit", json={"per_minute": 0})).status_code == 422


async def test_a_benchmark_capacity_of_800_shows_in_every_header(simulator):
    async with control(simulator) as ctl, app_api(simulator) as api:
        await ctl.post("/ratelimit", json={"per_minute": 800})
        first = await api.get("/eventsub/subscriptions")
        bad = await api.get("/eventsub/subscriptions", params={"type": "x", "status": "enabled"})
    assert _headers(first)[:2] == (800, 799)
    assert bad.status_code == 400 and _headers(bad)[:2] == (800, 798)
    assert simulator.state.config.ratelimit_per_minute == 800
