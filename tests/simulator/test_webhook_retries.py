"""Webhook delivery when the callback fails: retries with the same message id, the failure
limit and its revocation, and the control API's faults (fail, delay, duplicate, stale).

Back-off and timeouts are shortened through run_simulator's options; nothing is timed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from simulator.testing import run_simulator
from simulator.users import OTHER_CHANNELS
from tests.polling import eventually
from tests.simulator.conduit_helpers import app_api
from tests.simulator.helpers import control
from tests.simulator.webhook_helpers import enabled_webhook, status_of, wait_status

pytestmark = pytest.mark.slow  # the simulator and the callback serve on ports

CHANNEL = OTHER_CHANNELS[0].id
FAST: dict[str, Any] = {
    "allow_http_callbacks": True,
    "webhook_retry_base_s": 0.02,
    "webhook_retry_max_s": 0.1,
}


def _age(timestamp: str) -> timedelta:
    sent = datetime.fromisoformat(timestamp[:26] + "+00:00")  # microseconds are enough here
    return datetime.now(UTC) - sent


async def _record(ctl, sub_id: str) -> dict:
    response = await ctl.get("/webhooks")
    assert response.status_code == 200, response.text
    return next(r for r in response.json()["data"] if r.get("subscription_id") == sub_id)


async def test_a_failed_notification_is_retried_with_the_same_id_and_a_growing_retry_count():
    async with (
        run_simulator(**FAST) as sim,
        app_api(sim) as api,
        control(sim) as ctl,
        enabled_webhook(sim, api, CHANNEL) as (callback, sub_id),
    ):
        callback.statuses.extend([503, 500, 404])
        result = await sim.trigger("stream.online")
        copies = await callback.wait_for("notification", 4)
        record = await eventually(
            lambda: _delivered(ctl, sub_id), what="the fourth attempt recorded"
        )
        assert await status_of(api, sub_id) == "enabled"
    assert {c.message_id for c in copies} == set(result["message_ids"])
    assert [c.retry for c in copies] == [0, 1, 2, 3]
    assert all(c.signature_ok() for c in copies)
    assert len({c.body for c in copies}) == 1 and len({c.timestamp for c in copies}) == 1
    assert record["attempts"] == 4 and record["failed"] == 3 and record["delivered"] == 1
    assert record["retries_pending"] == 0 and record["consecutive_failures"] == 0
    assert record["last_status"] == 200 and record["challenge"] == "passed"


async def _delivered(ctl, sub_id):
    record = await _record(ctl, sub_id)
    return record if record["delivered"] else None


async def test_a_slow_answer_is_a_failure_and_is_retried():
    async with (
        run_simulator(**FAST, webhook_timeout_s=0.3) as sim,
        app_api(sim) as api,
        control(sim) as ctl,
        enabled_webhook(sim, api, CHANNEL) as (callback, sub_id),
    ):
        callback.delay_s = 1.0
        await sim.trigger("stream.online")
        [first] = await callback.wait_for("notification")
        callback.delay_s = 0.0
        copies = await callback.wait_for("notification", 2)
        record = await eventually(lambda: _delivered(ctl, sub_id), what="a delivery")
    assert copies[1].message_id == first.message_id and copies[1].retry >= 1
    assert record["failed"] >= 1 and record["delivered"] == 1


async def test_too_many_failures_revoke_the_subscription_with_a_revocation_post():
    async with (
        run_simulator(**FAST, webhook_failure_limit=3) as sim,
        app_api(sim) as api,
        control(sim) as ctl,
        enabled_webhook(sim, api, CHANNEL) as (callback, sub_id),
    ):
        callback.statuses.extend([500] * 3)
        await sim.trigger("stream.online")
        [revocation] = await callback.wait_for("revocation")
        await wait_status(api, sub_id, "notification_failures_exceeded")
        assert (await sim.trigger("stream.online"))["delivered"] == 0
        record = await _record(ctl, sub_id)
    notifications = callback.of_type("notification")
    assert [n.retry for n in notifications] == [0, 1, 2]
    assert len({n.message_id for n in notifications}) == 1
    assert revocation.signature_ok()
    assert revocation.json["subscription"]["status"] == "notification_failures_exceeded"
    assert revocation.headers["twitch-eventsub-subscription-type"] == "stream.online"
    assert record["status"] == "notification_failures_exceeded"
    assert record["failed"] == 3 and record["dropped"] == 1


async def test_a_fail_fault_fails_the_next_posts_without_sending_them():
    async with (
        run_simulator(**FAST) as sim,
        app_api(sim) as api,
        control(sim) as ctl,
        enabled_webhook(sim, api, CHANNEL) as (callback, sub_id),
    ):
        fault = {"callback": callback.url(), "fail_status": 503, "fail_count": 2}
        set_fault = await ctl.post("/webhooks/faults", json=fault)
        assert set_fault.status_code == 200, set_fault.text
        assert set_fault.json()["faults"][0]["fail_status"] == 503
        await sim.trigger("stream.online")
        [notification] = await callback.wait_for("notification")
        record = await eventually(lambda: _delivered(ctl, sub_id), what="a delivery")
        # Used up: the next notification goes through at once.
        await sim.trigger("stream.online")
        second = (await callback.wait_for("notification", 2))[1]
        # Until cleared: every POST fails.
        await ctl.post("/webhooks/faults", json={"fail_status": 500})
        await sim.trigger("stream.online")
        await eventually(
            lambda: _failed_at_least(ctl, sub_id, 4), what="failures under the open fault"
        )
        cleared = await ctl.delete("/webhooks/faults")
        assert cleared.json()["cleared"] == 2 and cleared.json()["faults"] == []
        third = (await callback.wait_for("notification", 3))[2]
        bad = await ctl.post("/webhooks/faults", json={"fail_status": 204})
    assert notification.retry == 2 and second.retry == 0 and third.retry >= 1
    assert record["attempts"] == 3 and record["failed"] == 2 and record["delivered"] == 1
    assert "fault" in str(record["last_error"]) or record["last_status"] == 200
    assert bad.status_code == 422


async def _failed_at_least(ctl, sub_id, count):
    return (await _record(ctl, sub_id))["failed"] >= count


async def test_duplicate_and_stale_faults_touch_only_the_next_notification():
    async with (
        run_simulator(**FAST) as sim,
        app_api(sim) as api,
        control(sim) as ctl,
        enabled_webhook(sim, api, CHANNEL) as (callback, _),
    ):
        await ctl.post("/webhooks/faults", json={"duplicate": True, "stale": True})
        await sim.trigger("stream.online")
        await sim.trigger("stream.online")
        first, again, second = await callback.wait_for("notification", 3)
        listed = (await ctl.get("/webhooks")).json()["faults"]
    assert first.message_id == again.message_id != second.message_id
    assert first.headers == again.headers and first.body == again.body
    assert _age(first.timestamp) > timedelta(minutes=10) and first.signature_ok()
    assert _age(second.timestamp) < timedelta(minutes=1)
    assert listed[0]["duplicate"] is False and listed[0]["stale"] is False  # used up


async def test_the_stale_and_duplicate_control_calls_work_for_webhooks():
    async with (
        run_simulator(**FAST) as sim,
        app_api(sim) as api,
        control(sim) as ctl,
        enabled_webhook(sim, api, CHANNEL) as (callback, _),
    ):
        stale = await ctl.post("/stale", json={"type": "stream.online"})
        assert stale.status_code == 200 and stale.json()["delivered"] == 1
        [old] = await callback.wait_for("notification")
        again = await ctl.post("/duplicate", json={})
        assert again.status_code == 200 and again.json()["message_ids"] == [old.message_id]
        await sim.trigger("stream.online")
        named = await ctl.post("/duplicate", json={"message_id": old.message_id})
        assert named.status_code == 200
        received = await callback.wait_for("notification", 4)
    assert _age(old.timestamp) > timedelta(minutes=10) and old.signature_ok()
    ids = [r.message_id for r in received]
    assert ids.count(old.message_id) == 3 and len(set(ids)) == 2


async def test_a_delay_fault_holds_posts_and_past_the_timeout_they_fail():
    async with (
        run_simulator(**FAST, webhook_timeout_s=0.5, webhook_failure_limit=2) as sim,
        app_api(sim) as api,
        control(sim) as ctl,
        enabled_webhook(sim, api, CHANNEL) as (callback, sub_id),
    ):
        await ctl.post("/webhooks/faults", json={"callback": callback.url(), "delay_s": 0.1})
        await sim.trigger("stream.online")
        await callback.wait_for("notification")
        await ctl.post("/webhooks/faults", json={"callback": callback.url(), "delay_s": 5})
        await sim.trigger("stream.online")
        await wait_status(api, sub_id, "notification_failures_exceeded")
        record = await _record(ctl, sub_id)
    assert len(callback.of_type("notification")) == 1  # the late ones were never sent
    assert record["failed"] == 2 and "delay fault" in str(record["last_error"])


async def test_posts_to_one_callback_are_bounded_and_never_block_the_trigger():
    async with (
        run_simulator(**FAST, webhook_concurrency=2) as sim,
        app_api(sim) as api,
        enabled_webhook(sim, api, CHANNEL) as (callback, _),
    ):
        callback.delay_s = 0.3
        result = await sim.trigger("stream.online", count=6)
        assert result["delivered"] == 6
        assert len(callback.of_type("notification")) < 6  # the trigger did not wait for them
        received = await callback.wait_for("notification", 6)
    assert {r.message_id for r in received} == set(result["message_ids"])
    assert callback.max_in_flight == 2
