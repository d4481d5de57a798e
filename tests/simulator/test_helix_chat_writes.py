"""Helix chat writes as Twitch answers them: Send Chat Message, Send Chat Announcement and Send
a Shoutout (https://dev.twitch.tv/docs/api/reference/), and what the control API records."""

from __future__ import annotations

import pytest

from tests.simulator.helix_helpers import (
    FakeClock,
    actions,
    assert_helix_error,
    assert_ratelimit_headers,
    go_live,
    token_for,
)
from tests.simulator.helpers import control, eventsub, helix, subscribe

pytestmark = pytest.mark.slow  # the simulator serves on a port

BROADCASTER, MODERATOR, BOT, OTHER = "71092938", "49207184", "852741963", "31239503"


# -- Send Chat Message ---------------------------------------------------------------------


async def test_chat_message_answers_twitchs_shape_and_is_recorded(simulator):
    async with helix(simulator, await token_for(simulator, "bot")) as api:
        body = {"broadcaster_id": BROADCASTER, "sender_id": BOT, "message": "hello chat"}
        first = await api.post("/chat/messages", json=body)
        reply = await api.post(
            "/chat/messages",
            json={**body, "message": "replying", "reply_parent_message_id": "parent-1"},
        )
    assert first.status_code == 200, first.text
    assert_ratelimit_headers(first)
    sent = first.json()["data"][0]
    assert set(sent) == {"message_id", "is_sent", "drop_reason"}
    assert sent["is_sent"] is True and sent["drop_reason"] is None and sent["message_id"]
    async with control(simulator) as api:
        chat = (await api.get("/chat", params={"broadcaster_id": BROADCASTER})).json()["data"]
    assert [(m["sender_id"], m["message"], m["reply_parent_message_id"]) for m in chat] == [
        (BOT, "hello chat", None),
        (BOT, "replying", "parent-1"),
    ]
    assert chat[1]["message_id"] == reply.json()["data"][0]["message_id"]
    assert chat[0]["broadcaster_id"] == BROADCASTER and chat[0]["token_type"] == "user"


async def test_chat_message_refusals(simulator):
    body = {"broadcaster_id": BROADCASTER, "sender_id": BOT, "message": "hi"}
    no_scope = await token_for(simulator, "bot", ["user:read:chat"])
    async with helix(simulator, no_scope) as api:
        assert_helix_error(await api.post("/chat/messages", json=body), 401)
    async with helix(simulator, await token_for(simulator, "bot")) as api:
        for missing in ("broadcaster_id", "sender_id", "message"):
            without = {k: v for k, v in body.items() if k != missing}
            assert_helix_error(await api.post("/chat/messages", json=without), 400)
        assert_helix_error(
            await api.post("/chat/messages", json={**body, "broadcaster_id": "999999999"}), 400
        )
        assert_helix_error(
            await api.post("/chat/messages", json={**body, "for_source_only": True}), 400
        )
        assert_helix_error(
            await api.post("/chat/messages", json={**body, "reply_parent_message_id": 7}), 400
        )
        assert_helix_error(
            await api.post("/chat/messages", json={**body, "sender_id": BROADCASTER}), 403
        )
        assert_helix_error(
            await api.post("/chat/messages", json={**body, "message": "x" * 501}), 422
        )


async def test_chat_message_with_an_app_token_needs_the_bots_grants(simulator):
    app_token = (await simulator.issue_app_token())["access_token"]
    body = {"broadcaster_id": OTHER, "sender_id": MODERATOR, "message": "hi"}
    async with helix(simulator, app_token) as api:
        # The moderator never granted user:bot; then the bot has, but OTHER gave no channel:bot.
        assert_helix_error(await api.post("/chat/messages", json=body), 403)
        await simulator.issue_token("bot")
        assert_helix_error(await api.post("/chat/messages", json={**body, "sender_id": BOT}), 403)
        # The bot moderates the broadcaster's channel: no channel:bot needed there.
        ok = await api.post(
            "/chat/messages",
            json={**body, "broadcaster_id": BROADCASTER, "sender_id": BOT, "for_source_only": True},
        )
    assert ok.status_code == 200, ok.text
    assert (await actions(simulator, "chat_message"))[0]["token_type"] == "app"


async def test_dropped_chat_message_is_200_with_is_sent_false(simulator):
    async with control(simulator) as api:
        queued = await api.post("/chat/drops", json={"code": "msg_duplicate", "message": "dup"})
    assert queued.json() == {"pending_drops": 1}
    async with helix(simulator, await token_for(simulator, "bot")) as api:
        body = {"broadcaster_id": BROADCASTER, "sender_id": BOT, "message": "again"}
        dropped = await api.post("/chat/messages", json=body)
        sent = await api.post("/chat/messages", json=body)
    assert dropped.status_code == 200
    assert dropped.json()["data"][0] == {
        "message_id": "",
        "is_sent": False,
        "drop_reason": {"code": "msg_duplicate", "message": "dup"},
    }
    assert sent.json()["data"][0]["is_sent"] is True
    assert [m["is_sent"] for m in await actions(simulator, "chat_message")] == [False, True]


async def test_a_reply_to_a_message_sent_here_carries_its_thread(simulator):
    bot = await token_for(simulator, "bot")
    async with helix(simulator, bot) as api, eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
        condition = {"broadcaster_user_id": BROADCASTER, "user_id": BOT}
        assert (
            await subscribe(api, session_id, "channel.chat.message", condition)
        ).status_code == 202
        body = {"broadcaster_id": BROADCASTER, "sender_id": BOT, "message": "first"}
        parent = (await api.post("/chat/messages", json=body)).json()["data"][0]["message_id"]
        await client.next_of("notification")
        reply = {**body, "message": "second", "reply_parent_message_id": parent}
        assert (await api.post("/chat/messages", json=reply)).status_code == 200
        event = (await client.next_of("notification"))["payload"]["event"]
    assert event["reply"]["parent_message_id"] == parent
    assert event["reply"]["parent_message_body"] == "first"
    assert event["reply"]["parent_user_id"] == BOT


# -- Send Chat Announcement ----------------------------------------------------------------


def _announce(broadcaster: str = BROADCASTER, moderator: str = MODERATOR) -> str:
    return f"/chat/announcements?broadcaster_id={broadcaster}&moderator_id={moderator}"


async def test_announcement_is_204_and_recorded(simulator):
    simulator.state.activity.clock = clock = FakeClock()
    async with helix(simulator, await token_for(simulator, "moderator")) as api:
        response = await api.post(_announce(), json={"message": "Hello chat!", "color": "purple"})
        assert response.status_code == 204 and response.content == b""
        assert_ratelimit_headers(response)
        # One announcement every 2 seconds.
        assert_helix_error(await api.post(_announce(), json={"message": "again"}), 429)
        clock.advance(2.5)
        long_one = await api.post(_announce(), json={"message": "y" * 600})
    assert long_one.status_code == 204
    recorded = await actions(simulator, "announcement")
    assert [(a["moderator_id"], a["color"]) for a in recorded] == [
        (MODERATOR, "purple"),
        (MODERATOR, "primary"),
    ]
    assert recorded[0]["message"] == "Hello chat!" and len(recorded[1]["message"]) == 500


async def test_announcement_refusals(simulator):
    async with helix(simulator, await token_for(simulator, "moderator", ["user:read:chat"])) as api:
        assert_helix_error(await api.post(_announce(), json={"message": "hi"}), 401)
    async with helix(simulator, await token_for(simulator, "moderator")) as api:
        assert_helix_error(
            await api.post(
                f"/chat/announcements?broadcaster_id={BROADCASTER}", json={"message": "hi"}
            ),
            400,
        )
        assert_helix_error(await api.post(_announce(), json={}), 400)
        assert_helix_error(await api.post(_announce(), json={"message": ""}), 400)
        assert_helix_error(await api.post(_announce(), json={"message": "hi", "color": "Red"}), 400)
        assert_helix_error(
            await api.post(_announce(), json={"message": "hi", "for_source_only": True}), 400
        )
        # moderator_id must be the token's user; and the user must moderate the channel.
        assert_helix_error(await api.post(_announce(moderator=BOT), json={"message": "hi"}), 401)
        assert_helix_error(
            await api.post(_announce(broadcaster=OTHER), json={"message": "hi"}), 403
        )
    app_token = (await simulator.issue_app_token())["access_token"]
    async with helix(simulator, app_token) as api:
        # The moderator granted no user:bot to the app.
        assert_helix_error(await api.post(_announce(), json={"message": "hi"}), 401)


# -- Send a Shoutout -----------------------------------------------------------------------


def _shoutout(to: str = OTHER, moderator: str = BROADCASTER, sender: str = BROADCASTER) -> str:
    return (
        f"/chat/shoutouts?from_broadcaster_id={sender}&to_broadcaster_id={to}"
        f"&moderator_id={moderator}"
    )


async def test_shoutout_is_204_recorded_and_announced_on_eventsub(simulator):
    await go_live(simulator, viewers=42)
    token = await token_for(simulator)
    async with helix(simulator, token) as api, eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
        condition = {"broadcaster_user_id": BROADCASTER, "moderator_user_id": BROADCASTER}
        assert (
            await subscribe(api, session_id, "channel.shoutout.create", condition)
        ).status_code == 202
        response = await api.post(_shoutout())
        assert response.status_code == 204, response.text
        assert_ratelimit_headers(response)
        event = (await client.next_of("notification"))["payload"]["event"]
    assert event["to_broadcaster_user_id"] == OTHER and event["viewer_count"] == 42
    assert event["moderator_user_id"] == BROADCASTER
    [recorded] = await actions(simulator, "shoutout")
    assert recorded["broadcaster_id"] == BROADCASTER and recorded["to_broadcaster_id"] == OTHER


async def test_shoutout_cooldowns_are_twitchs(simulator):
    simulator.state.activity.clock = clock = FakeClock()
    await go_live(simulator)
    third = "57431298"
    async with helix(simulator, await token_for(simulator)) as api:
        assert (await api.post(_shoutout())).status_code == 204
        # Any shoutout within 2 minutes is refused ...
        assert_helix_error(await api.post(_shoutout(to=third)), 429)
        clock.advance(121)
        assert (await api.post(_shoutout(to=third))).status_code == 204
        # ... and the same channel again within 60 minutes.
        clock.advance(121)
        assert_helix_error(await api.post(_shoutout()), 429)
        clock.advance(60 * 60)
        assert (await api.post(_shoutout())).status_code == 204


async def test_shoutout_refusals(simulator):
    async with helix(simulator, await token_for(simulator, scopes=["user:read:chat"])) as api:
        assert_helix_error(await api.post(_shoutout()), 401)
    async with helix(simulator, await token_for(simulator)) as api:
        assert_helix_error(
            await api.post(f"/chat/shoutouts?from_broadcaster_id={BROADCASTER}&moderator_id=1"),
            400,
        )
        assert_helix_error(await api.post(_shoutout(to="999999999")), 400)
        # Not live yet; then live but shouting themselves out.
        assert_helix_error(await api.post(_shoutout()), 400)
        await go_live(simulator)
        assert_helix_error(await api.post(_shoutout(to=BROADCASTER)), 400)
        assert_helix_error(await api.post(_shoutout(moderator=MODERATOR)), 401)
    async with helix(
        simulator, await token_for(simulator, "bot", ["moderator:manage:shoutouts"])
    ) as api:
        # The bot does not moderate OTHER's channel.
        assert_helix_error(
            await api.post(_shoutout(sender=OTHER, to=BROADCASTER, moderator=BOT)), 403
        )
    await go_live(simulator, viewers=0)
    async with helix(simulator, await token_for(simulator)) as api:
        assert_helix_error(await api.post(_shoutout()), 400)  # live, but nobody watches


async def test_shoutout_with_an_app_token_needs_the_moderators_grants(simulator):
    await go_live(simulator)
    app_token = (await simulator.issue_app_token())["access_token"]
    async with helix(simulator, app_token) as api:
        assert_helix_error(await api.post(_shoutout(moderator=BOT)), 401)
        await simulator.issue_token("bot", ["user:bot", "moderator:manage:shoutouts"])
        # Now the broadcaster has not granted channel:bot.
        assert_helix_error(await api.post(_shoutout(moderator=BOT)), 401)
        await simulator.issue_token("broadcaster")
        response = await api.post(_shoutout(moderator=BOT))
    assert response.status_code == 204, response.text
    assert (await actions(simulator, "shoutout"))[0]["token_type"] == "app"
