"""EventSub over webhooks as Twitch does it: subscription rules, the signed challenge, signed
notifications and revocations, all POSTed to a real callback on a loopback port.

https://dev.twitch.tv/docs/eventsub/handling-webhook-events/
"""

from __future__ import annotations

import pytest
from starlette.responses import JSONResponse, PlainTextResponse, Response

from simulator.testing import run_simulator
from simulator.users import OTHER_CHANNELS
from tests.polling import eventually
from tests.simulator.conduit_helpers import app_api, assert_error
from tests.simulator.helpers import control, helix
from tests.simulator.webhook_helpers import (
    HEADERS,
    RFC3339_NANO,
    SECRET,
    SUBSCRIPTION_HEADERS,
    callback_server,
    enabled_webhook,
    status_of,
    subscribe_webhook,
    wait_status,
    webhook_body,
)

pytestmark = pytest.mark.slow  # the simulator and the callback serve on ports

CHANNEL = OTHER_CHANNELS[0].id
SUBSCRIPTIONS = "/eventsub/subscriptions"


async def test_the_challenge_is_signed_and_a_raw_answer_enables_the_subscription():
    async with (
        run_simulator(allow_http_callbacks=True) as sim,
        app_api(sim) as api,
        callback_server() as callback,
    ):
        response = await subscribe_webhook(api, callback.url(), CHANNEL)
        assert response.status_code == 202, response.text
        body = response.json()
        sub = body["data"][0]
        assert sub["status"] == "webhook_callback_verification_pending"
        assert sub["transport"] == {"method": "webhook", "callback": callback.url()}
        assert body["max_total_cost"] == 10_000 and body["total_cost"] == sub["cost"] == 1

        [challenge] = await callback.wait_for("webhook_callback_verification")
        await wait_status(api, sub["id"], "enabled")

    assert challenge.path == "/eventsub"
    assert set(challenge.headers) >= {*HEADERS, *SUBSCRIPTION_HEADERS}
    assert challenge.headers["content-type"] == "application/json"
    assert challenge.retry == 0
    assert challenge.headers["twitch-eventsub-subscription-type"] == "stream.online"
    assert challenge.headers["twitch-eventsub-subscription-version"] == "1"
    assert RFC3339_NANO.match(challenge.timestamp), challenge.timestamp
    assert challenge.signature_ok(SECRET)
    assert not challenge.signature_ok("another-secret-entirely")
    assert challenge.headers["twitch-eventsub-message-signature"].startswith("sha256=")
    message = challenge.json
    assert set(message) == {"challenge", "subscription"}
    assert isinstance(message["challenge"], str) and len(message["challenge"]) >= 16
    assert message["subscription"]["id"] == sub["id"]
    assert message["subscription"]["status"] == "webhook_callback_verification_pending"
    assert message["subscription"]["transport"] == sub["transport"]
    assert "secret" not in challenge.body.decode()


def _json_wrapped(challenge: str) -> Response:
    return JSONResponse({"challenge": challenge})


@pytest.mark.parametrize(
    "answer",
    [
        _json_wrapped,
        lambda c: PlainTextResponse(c + "\n"),
        lambda c: PlainTextResponse("not-the-challenge"),
        lambda c: PlainTextResponse(c, status_code=202),
        lambda c: PlainTextResponse(c, status_code=403),
        lambda c: Response(status_code=307, headers={"Location": "/elsewhere"}),
    ],
    ids=["json-wrapped", "trailing-newline", "wrong-string", "202", "403", "redirect"],
)
async def test_any_other_answer_fails_verification_and_nothing_is_delivered(answer):
    async with (
        run_simulator(allow_http_callbacks=True) as sim,
        app_api(sim) as api,
        callback_server() as callback,
    ):
        callback.challenge_answer = answer
        response = await subscribe_webhook(api, callback.url(), CHANNEL)
        sub_id = response.json()["data"][0]["id"]
        await wait_status(api, sub_id, "webhook_callback_verification_failed")
        assert (await sim.trigger("stream.online"))["delivered"] == 0
        [record] = (await sim_webhooks(sim))["data"]
        assert record["challenge"] == "failed" and record["last_error"]
    assert [r.message_type for r in callback.received] == ["webhook_callback_verification"]


async def test_a_challenge_not_answered_in_time_fails():
    async with (
        run_simulator(allow_http_callbacks=True, webhook_challenge_timeout_s=0.3) as sim,
        app_api(sim) as api,
        callback_server() as callback,
    ):
        callback.delay_s = 2.0
        response = await subscribe_webhook(api, callback.url(), CHANNEL)
        sub_id = response.json()["data"][0]["id"]
        await wait_status(api, sub_id, "webhook_callback_verification_failed")
        [record] = (await sim_webhooks(sim))["data"]
        assert "no answer within" in record["last_error"]


async def sim_webhooks(sim) -> dict:
    async with control(sim) as ctl:
        response = await ctl.get("/webhooks")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_callbacks_must_be_https_on_443_and_on_a_loopback_host(simulator):
    async with app_api(simulator) as api:
        for callback in (
            "http://127.0.0.1:8443/eventsub",  # plain http
            "https://127.0.0.1:8443/eventsub",  # not 443
            "https://example.com/eventsub",  # the simulator posts to loopback hosts only
            "https://10.1.2.3/eventsub",
            "ftp://127.0.0.1/eventsub",
            "not a url",
        ):
            assert_error(await subscribe_webhook(api, callback, CHANNEL), 400)
        for callback in ("https://127.0.0.1/eventsub", "https://localhost:443/eventsub"):
            response = await subscribe_webhook(api, callback, CHANNEL)
            assert response.status_code == 202, (callback, response.text)
        body = webhook_body("stream.online", {"broadcaster_user_id": CHANNEL}, "x")
        del body["transport"]["callback"]
        assert_error(await api.post(SUBSCRIPTIONS, json=body), 400)


async def test_the_test_flag_accepts_http_on_any_port_but_still_only_loopback():
    async with run_simulator(allow_http_callbacks=True) as sim, app_api(sim) as api:
        for host in ("127.0.0.1:8080", "localhost:9000", "[::1]:8081", "127.0.0.2"):
            response = await subscribe_webhook(api, f"http://{host}/eventsub", CHANNEL)
            assert response.status_code == 202, (host, response.text)
        assert_error(await subscribe_webhook(api, "http://example.com:8080/x", CHANNEL), 400)
        assert_error(await subscribe_webhook(api, "https://192.168.1.10/x", CHANNEL), 400)


async def test_the_secret_must_be_10_to_100_ascii_characters(simulator):
    callback = "https://127.0.0.1/eventsub"
    async with app_api(simulator) as api:
        for secret in ("x" * 9, "x" * 101, "é" * 12, "", 1234567890123):
            response = await subscribe_webhook(api, callback, CHANNEL, secret=secret)
            assert_error(response, 400)
        body = webhook_body("stream.online", {"broadcaster_user_id": CHANNEL}, callback)
        del body["transport"]["secret"]
        assert_error(await api.post(SUBSCRIPTIONS, json=body), 400)
        for secret in ("x" * 10, "y" * 100):
            response = await subscribe_webhook(api, callback, CHANNEL, secret=secret)
            assert response.status_code == 202, response.text


async def test_webhooks_need_an_app_token_and_are_listed_only_with_it(simulator):
    user_token = (await simulator.issue_token())["access_token"]
    callback = "https://127.0.0.1/eventsub"
    async with app_api(simulator) as api, helix(simulator, user_token) as user_api:
        assert_error(await subscribe_webhook(user_api, callback, CHANNEL), 401)
        created = await subscribe_webhook(api, callback, CHANNEL)
        assert created.status_code == 202, created.text
        listed = (await api.get(SUBSCRIPTIONS)).json()
        assert [s["id"] for s in listed["data"]] == [created.json()["data"][0]["id"]]
        assert listed["max_total_cost"] == 10_000
        assert "secret" not in listed["data"][0]["transport"]
        assert (await user_api.get(SUBSCRIPTIONS)).json()["data"] == []


async def test_webhooks_follow_the_app_token_authorization_and_limits():
    async with (
        run_simulator(allow_http_callbacks=True) as sim,
        app_api(sim) as api,
        callback_server() as callback,
    ):
        broadcaster = sim.users["broadcaster"].id
        follow = {"broadcaster_user_id": broadcaster, "moderator_user_id": broadcaster}
        body = webhook_body("channel.follow", follow, callback.url("/a")) | {"version": "2"}
        assert_error(await api.post(SUBSCRIPTIONS, json=body), 403)  # nobody authorized us
        await sim.issue_token("broadcaster")  # the broadcaster grants the client
        created = await api.post(SUBSCRIPTIONS, json=body)
        assert created.status_code == 202 and created.json()["data"][0]["cost"] == 0
        # A pending subscription counts as much as an enabled one.
        assert_error(await api.post(SUBSCRIPTIONS, json=body), 409)  # same callback
        await wait_status(api, created.json()["data"][0]["id"], "enabled")
        assert_error(await api.post(SUBSCRIPTIONS, json=body), 409)
        for path in ("/b", "/c"):
            again = body | {"transport": body["transport"] | {"callback": callback.url(path)}}
            assert (await api.post(SUBSCRIPTIONS, json=again)).status_code == 202
        fourth = body | {"transport": body["transport"] | {"callback": callback.url("/d")}}
        assert_error(await api.post(SUBSCRIPTIONS, json=fourth), 429)


async def test_a_notification_is_signed_and_carries_subscription_and_event():
    async with (
        run_simulator(allow_http_callbacks=True) as sim,
        app_api(sim) as api,
        enabled_webhook(sim, api, CHANNEL) as (callback, sub_id),
    ):
        result = await sim.trigger("stream.online")
        [notification] = await callback.wait_for("notification")
    assert result["delivered"] == 1 and result["message_ids"] == [notification.message_id]
    assert set(notification.headers) >= {*HEADERS, *SUBSCRIPTION_HEADERS}
    assert notification.retry == 0 and notification.signature_ok()
    assert notification.headers["twitch-eventsub-subscription-type"] == "stream.online"
    assert RFC3339_NANO.match(notification.timestamp)
    body = notification.json
    assert set(body) == {"subscription", "event"}
    assert body["subscription"]["id"] == sub_id and body["subscription"]["status"] == "enabled"
    assert body["subscription"]["transport"] == {"method": "webhook", "callback": callback.url()}
    assert body["event"]["broadcaster_user_id"] == CHANNEL


async def test_revocations_are_posted_and_end_delivery():
    async with (
        run_simulator(allow_http_callbacks=True) as sim,
        app_api(sim) as api,
        control(sim) as ctl,
        enabled_webhook(sim, api, CHANNEL) as (callback, sub_id),
    ):
        revoke = await ctl.post(f"/subscriptions/{sub_id}/revoke", json={"status": "user_removed"})
        assert revoke.status_code == 200 and revoke.json()["delivered"] is True
        [revocation] = await callback.wait_for("revocation")
        assert (await sim.trigger("stream.online"))["delivered"] == 0
        assert await status_of(api, sub_id) == "user_removed"
    assert revocation.signature_ok()
    assert revocation.headers["twitch-eventsub-subscription-type"] == "stream.online"
    assert set(revocation.json) == {"subscription"}
    assert revocation.json["subscription"]["status"] == "user_removed"


async def test_the_user_disconnecting_the_app_revokes_its_webhooks():
    async with (
        run_simulator(allow_http_callbacks=True) as sim,
        app_api(sim) as api,
        control(sim) as ctl,
        callback_server() as callback,
    ):
        await sim.issue_token("broadcaster")
        me = sim.users["broadcaster"].id
        body = webhook_body("channel.subscribe", {"broadcaster_user_id": me}, callback.url())
        sub_id = (await api.post(SUBSCRIPTIONS, json=body)).json()["data"][0]["id"]
        await wait_status(api, sub_id, "enabled")
        revoked = await ctl.post("/tokens/revoke", json={"user": "broadcaster"})
        assert revoked.json()["revoked_subscriptions"] == [sub_id]
        [revocation] = await callback.wait_for("revocation")
    assert revocation.json["subscription"]["status"] == "authorization_revoked"


async def test_a_deleted_subscription_gets_nothing_more():
    async with (
        run_simulator(allow_http_callbacks=True) as sim,
        app_api(sim) as api,
        enabled_webhook(sim, api, CHANNEL) as (callback, sub_id),
    ):
        assert (await api.delete(SUBSCRIPTIONS, params={"id": sub_id})).status_code == 204
        assert (await sim.trigger("stream.online"))["delivered"] == 0
        listed = await api.get(SUBSCRIPTIONS)
        assert listed.json()["data"] == []
        await eventually(lambda: not sim.state.background, what="no delivery task left")
    assert [r.message_type for r in callback.received] == ["webhook_callback_verification"]
