"""Conduit shards on the webhook transport: their challenge, signed delivery with the shard's
secret, the one retry on another shard when a POST fails, drops, and the failure limit."""

from __future__ import annotations

import pytest
from starlette.responses import PlainTextResponse

from simulator.conduits import shard_index
from simulator.testing import run_simulator
from simulator.users import OTHER_CHANNELS
from tests.polling import eventually
from tests.simulator.conduit_helpers import app_api, create_conduit, shards_of, subscribe_conduit
from tests.simulator.helpers import control
from tests.simulator.webhook_helpers import (
    SUBSCRIPTION_HEADERS,
    callback_server,
    wait_status,
    webhook_body,
)

pytestmark = pytest.mark.slow  # the simulator and the callback serve on ports

SHARDS = "/eventsub/conduits/shards"
SECRETS = {"0": "secret-of-shard-zero", "1": "secret-of-shard-one"}
CHANNEL = next(c.id for c in OTHER_CHANNELS if shard_index(c.id, 2) == 0)


def _webhook_shard(shard_id: str, callback: str) -> dict:
    transport = {"method": "webhook", "callback": callback, "secret": SECRETS[shard_id]}
    return {"id": shard_id, "transport": transport}


async def _statuses(api, conduit_id):
    return {s["id"]: s["status"] for s in await shards_of(api, conduit_id)}


async def test_webhook_shards_are_challenged_then_get_signed_notifications():
    async with (
        run_simulator(allow_http_callbacks=True) as sim,
        app_api(sim) as api,
        control(sim) as ctl,
        callback_server() as callback,
    ):
        conduit_id = await create_conduit(api, 2)
        shards = [_webhook_shard("0", callback.url("/a")), _webhook_shard("1", callback.url("/b"))]
        response = await api.patch(SHARDS, json={"conduit_id": conduit_id, "shards": shards})
        assert response.status_code == 202 and response.json()["errors"] == [], response.text
        assert {s["status"] for s in response.json()["data"]} == {
            "webhook_callback_verification_pending"
        }
        challenges = await callback.wait_for("webhook_callback_verification", 2)
        await eventually(lambda: _all_enabled(api, conduit_id), what="both webhook shards enabled")
        created = await subscribe_conduit(
            api, conduit_id, "stream.online", {"broadcaster_user_id": CHANNEL}
        )
        assert created.status_code == 202, created.text
        result = await sim.trigger("stream.online")
        [notification] = await callback.wait_for("notification")
        listed = (await ctl.get("/webhooks")).json()["data"]

    by_path = {c.path: c for c in challenges}
    for shard_id, path in (("0", "/a"), ("1", "/b")):
        challenge = by_path[path]
        assert challenge.json["conduit_shard"] == {"conduit_id": conduit_id, "shard": shard_id}
        assert set(challenge.json) == {"challenge", "conduit_shard"}
        assert challenge.signature_ok(SECRETS[shard_id])
        assert not set(SUBSCRIPTION_HEADERS) & set(challenge.headers)
    assert notification.path == "/a"  # the shard the broadcaster id hashes to
    assert notification.message_id == result["message_ids"][0]
    assert notification.signature_ok(SECRETS["0"]) and not notification.signature_ok(SECRETS["1"])
    subscription = notification.json["subscription"]
    assert subscription["transport"] == {"method": "conduit", "conduit_id": conduit_id}
    assert notification.headers["twitch-eventsub-subscription-type"] == "stream.online"
    assert {(r["shard_id"], r["challenge"]) for r in listed} == {("0", "passed"), ("1", "passed")}


async def _all_enabled(api, conduit_id):
    return set((await _statuses(api, conduit_id)).values()) == {"enabled"}


async def test_a_wrong_answer_fails_the_shard_and_foreign_hosts_are_refused():
    async with (
        run_simulator(allow_http_callbacks=True) as sim,
        app_api(sim) as api,
        callback_server() as callback,
    ):
        callback.challenge_answer = lambda c: PlainTextResponse("nope")
        conduit_id = await create_conduit(api, 2)
        shards = [
            _webhook_shard("0", callback.url()),
            _webhook_shard("1", "https://example.com/eventsub"),
        ]
        response = await api.patch(SHARDS, json={"conduit_id": conduit_id, "shards": shards})
        [error] = response.json()["errors"]
        assert error["id"] == "1" and "loopback" in error["message"]

        async def failed() -> bool:
            return (await _statuses(api, conduit_id))["0"] == "webhook_callback_verification_failed"

        await eventually(failed, what="the shard's challenge failed")


async def test_a_failed_post_is_retried_on_another_shard_else_dropped_and_the_limit_disables():
    async with (
        run_simulator(allow_http_callbacks=True, webhook_failure_limit=2) as sim,
        app_api(sim) as api,
        control(sim) as ctl,
        callback_server() as callback,
    ):
        # The client watches its conduits' shards through a plain webhook subscription.
        watch = webhook_body(
            "conduit.shard.disabled", {"client_id": sim.client_id}, callback.url("/c")
        )
        watcher = await api.post("/eventsub/subscriptions", json=watch)
        assert watcher.status_code == 202, watcher.text
        await wait_status(api, watcher.json()["data"][0]["id"], "enabled")

        conduit_id = await create_conduit(api, 2)
        shards = [_webhook_shard("0", callback.url("/a")), _webhook_shard("1", callback.url("/b"))]
        await api.patch(SHARDS, json={"conduit_id": conduit_id, "shards": shards})
        await eventually(lambda: _all_enabled(api, conduit_id), what="both shards enabled")
        condition = {"broadcaster_user_id": CHANNEL}
        assert (await subscribe_conduit(api, conduit_id, "stream.online", condition)).is_success

        # Shard 0's callback fails: the same message goes to shard 1.
        await ctl.post(
            "/webhooks/faults", json={"callback": callback.url("/a"), "fail_status": 503}
        )
        first = await sim.trigger("stream.online")
        [moved] = await callback.wait_for("notification")
        assert moved.path == "/b" and moved.message_id == first["message_ids"][0]
        assert moved.signature_ok(SECRETS["1"])

        # Both shards' callbacks fail: no shard takes it, so it is dropped; shard 0 hit the limit.
        await ctl.post(
            "/webhooks/faults", json={"callback": callback.url("/b"), "fail_status": 500}
        )
        await sim.trigger("stream.online")

        async def dropped() -> int:
            return int((await ctl.get("/conduits")).json()["dropped"])

        await eventually(dropped, what="the notification dropped")
        await eventually(
            lambda: _shard_is(api, conduit_id, "0", "notification_failures_exceeded"),
            what="shard 0 disabled",
        )
        [disabled] = [r for r in await callback.wait_for("notification", 2) if r.path == "/c"]
        assert disabled.json["event"]["shard_id"] == "0"
        assert disabled.json["event"]["status"] == "notification_failures_exceeded"
        assert disabled.json["event"]["transport"] == {
            "method": "webhook",
            "callback": callback.url("/a"),
        }

        # Faults cleared: shard 0 stays disabled, so its channel now lands on shard 1.
        await ctl.delete("/webhooks/faults")
        await sim.trigger("stream.online")
        received = await callback.wait_for("notification", 3)
        assert received[2].path == "/b" and await dropped() == 1


async def _shard_is(api, conduit_id, shard_id, status):
    return (await _statuses(api, conduit_id))[shard_id] == status
