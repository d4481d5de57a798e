"""Helix chat writes: Send Chat Message, Send Chat Announcement, Send a Shoutout.

Each follows its entry in https://dev.twitch.tv/docs/api/reference/ (required parameters,
scopes, token types, status codes) and is recorded in `state.activity` for the control API
(`GET /control/chat`, `GET /control/actions`). Authentication and the `Ratelimit-*` headers
are `helix`'s, as for every Helix call.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from simulator.channel_activity import (
    SHOUTOUT_COOLDOWN_S,
    SHOUTOUT_TARGET_COOLDOWN_S,
    timestamp,
)
from simulator.errors import HelixError
from simulator.event_context import user_fields
from simulator.events import chat_fragments
from simulator.helix import Token, json_body, json_response, ratelimit_headers, sim_state
from simulator.helix_checks import (
    body_object,
    check_chat_sender,
    check_moderator_action,
    known_user,
    query_ids,
    required_text,
)
from simulator.state import SimulatorState
from simulator.users import SimUser

router = APIRouter(prefix="/helix")

#: Send Chat Message refuses longer messages with 422; announcements are cut to this length.
MAX_CHAT_MESSAGE = 500
#: Send Chat Announcement's colors (case-sensitive); primary is the channel's accent color.
ANNOUNCEMENT_COLORS = ("blue", "green", "orange", "purple", "primary")


def _person(user: SimUser) -> tuple[str, str, str]:
    return (user.id, user.login, user.display_name)


def _reply_to(state: SimulatorState, parent_id: str) -> dict[str, Any] | None:
    """The event's `reply` object when the parent is a message sent through Helix here; for
    other parents (e.g. triggered messages) the simulator does not know the thread."""
    for entry in state.activity.records:
        if entry.kind == "chat_message" and entry.details["message_id"] == parent_id:
            parent = state.users_by_id[entry.details["sender_id"]]
            return {
                "parent_message_id": parent_id,
                "parent_message_body": entry.details["message"],
                **user_fields("parent_", _person(parent)),
                "thread_message_id": parent_id,
                **user_fields("thread_", _person(parent)),
            }
    return None


@router.post("/chat/messages")
async def send_chat_message(request: Request, token: Token) -> Response:
    state = sim_state(request)
    body = body_object(await json_body(request))
    broadcaster_id = required_text(body, "broadcaster_id")
    sender_id = required_text(body, "sender_id")
    text = required_text(body, "message")
    parent_id = body.get("reply_parent_message_id")
    if parent_id is not None and (not isinstance(parent_id, str) or not parent_id):
        raise HelixError(400, "The ID in reply_parent_message_id is not valid.")
    known_user(state, broadcaster_id, "broadcaster_id")
    chatter = known_user(state, sender_id, "sender_id")
    if "for_source_only" in body and token.user_id is not None:
        raise HelixError(400, "Cannot set for_source_only if User Access Token is used.")
    check_chat_sender(state, token, broadcaster_id, sender_id)
    if len(text) > MAX_CHAT_MESSAGE:
        raise HelixError(422, f"The message is longer than {MAX_CHAT_MESSAGE} characters.")
    # A 200 may still mean the message was dropped (AutoMod, chat modes): the control API
    # queues such drops so clients can be tested on `is_sent`.
    drop = state.activity.chat_drops.pop(0) if state.activity.chat_drops else None
    message_id = "" if drop is not None else str(uuid.uuid4())
    sent = {"message_id": message_id, "is_sent": drop is None, "drop_reason": drop}
    state.activity.record(
        "chat_message",
        broadcaster_id,
        {
            "sender_id": sender_id,
            "message": text,
            "reply_parent_message_id": parent_id,
            "token_type": "user" if token.user_id is not None else "app",
            **sent,
        },
    )
    if drop is None:
        overrides: dict[str, Any] = {
            "message_id": message_id,
            **user_fields("chatter_", _person(chatter)),
            "message": {"text": text, "fragments": chat_fragments(text)},
        }
        if parent_id is not None:
            overrides["reply"] = _reply_to(state, parent_id)
        # Everyone reading this channel's chat sees the message, as on Twitch.
        chat = {"broadcaster_user_id": broadcaster_id}
        state.deliver_once("channel.chat.message", "1", chat, overrides, {}, 0.0)
    return json_response(request, {"data": [sent]})


@router.post("/chat/announcements")
async def send_chat_announcement(request: Request, token: Token) -> Response:
    state = sim_state(request)
    broadcaster_id, moderator_id = query_ids(request, "broadcaster_id", "moderator_id")
    known_user(state, broadcaster_id, "broadcaster_id")
    known_user(state, moderator_id, "moderator_id")
    body = body_object(await json_body(request))
    if not isinstance(body.get("message"), str):
        raise HelixError(400, "The message field in the request's body is required.")
    if not body["message"].strip():
        raise HelixError(400, "The message field may not contain an empty string.")
    color = body.get("color", "primary")
    if color not in ANNOUNCEMENT_COLORS:
        raise HelixError(400, "The specified color is not valid.")
    if "for_source_only" in body and token.user_id is not None:
        raise HelixError(400, "Cannot set for_source_only if User Access Token is used.")
    check_moderator_action(
        state, token, "moderator:manage:announcements", moderator_id, broadcaster_id
    )
    refusal = state.activity.announcement_refusal(broadcaster_id, moderator_id)
    if refusal is not None:
        raise HelixError(429, refusal)
    state.activity.record(
        "announcement",
        broadcaster_id,
        {
            "moderator_id": moderator_id,
            # Twitch truncates announcements longer than 500 characters.
            "message": body["message"][:MAX_CHAT_MESSAGE],
            "color": color,
            "token_type": "user" if token.user_id is not None else "app",
        },
    )
    return Response(status_code=204, headers=ratelimit_headers(request))


@router.post("/chat/shoutouts")
async def send_shoutout(request: Request, token: Token) -> Response:
    state = sim_state(request)
    from_id, to_id, moderator_id = query_ids(
        request, "from_broadcaster_id", "to_broadcaster_id", "moderator_id"
    )
    sender = known_user(state, from_id, "from_broadcaster_id")
    target = known_user(state, to_id, "to_broadcaster_id")
    moderator = known_user(state, moderator_id, "moderator_id")
    check_moderator_action(state, token, "moderator:manage:shoutouts", moderator_id, from_id)
    if from_id == to_id:
        raise HelixError(400, "The broadcaster may not give themselves a Shoutout.")
    stream = state.activity.live.get(from_id)
    if stream is None or stream.viewer_count < 1:
        raise HelixError(
            400, "The broadcaster is not streaming live or does not have one or more viewers."
        )
    refusal = state.activity.shoutout_refusal(from_id, to_id)
    if refusal is not None:
        raise HelixError(429, refusal)
    entry = state.activity.record(
        "shoutout",
        from_id,
        {
            "to_broadcaster_id": to_id,
            "moderator_id": moderator_id,
            "viewer_count": stream.viewer_count,
            "token_type": "user" if token.user_id is not None else "app",
        },
    )
    started = timestamp(entry.at)
    created = {
        **user_fields("to_broadcaster_", _person(target)),
        **user_fields("moderator_", _person(moderator)),
        "viewer_count": stream.viewer_count,
        "started_at": started,
        "cooldown_ends_at": timestamp(entry.at + SHOUTOUT_COOLDOWN_S),
        "target_cooldown_ends_at": timestamp(entry.at + SHOUTOUT_TARGET_COOLDOWN_S),
    }
    received = {
        **user_fields("from_broadcaster_", _person(sender)),
        "viewer_count": stream.viewer_count,
        "started_at": started,
    }
    # Both channels' subscribers hear of it, as on Twitch.
    for sub_type, channel, event in (
        ("channel.shoutout.create", from_id, created),
        ("channel.shoutout.receive", to_id, received),
    ):
        state.deliver_once(sub_type, "1", {"broadcaster_user_id": channel}, event, {}, 0.0)
    return Response(status_code=204, headers=ratelimit_headers(request))
