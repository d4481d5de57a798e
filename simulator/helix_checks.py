"""Checks the Helix write endpoints share: required parameters and body fields, the token
type, scopes, the grants an app token acts on, and moderator status.

Twitch answers a missing scope or a user id that is not the token's with 401 on these
endpoints (their "Response Codes" in https://dev.twitch.tv/docs/api/reference/), and a user
who may not act in the channel with 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from simulator.errors import HelixError
from simulator.oauth import AccessToken
from simulator.state import SimulatorState
from simulator.users import SimUser

USER_TOKEN_REQUIRED = "The Authorization header is required and must contain a user access token."


def query_ids(request: Request, *names: str) -> list[str]:
    """The named query parameters, each required and non-empty (400 otherwise)."""
    values = []
    for name in names:
        value = request.query_params.get(name, "")
        if not value:
            raise HelixError(400, f"The {name} query parameter is required.")
        values.append(value)
    return values


def known_user(state: SimulatorState, user_id: str, name: str) -> SimUser:
    """The user an id parameter names; 400 when it names no one."""
    user = state.users_by_id.get(user_id)
    if user is None:
        raise HelixError(400, f"The ID in the {name} parameter is not valid.")
    return user


def body_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise HelixError(400, "The request body must be a JSON object.")
    return body


def required_text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise HelixError(400, f"The {name} field is required.")
    return value


def user_token_with_scope(token: AccessToken, scope: str) -> str:
    """The token's user id; 401 for an app token or a token without `scope`."""
    if token.user_id is None:
        raise HelixError(401, USER_TOKEN_REQUIRED)
    if scope not in token.scopes:
        raise HelixError(401, f"The user access token must include the {scope} scope.")
    return token.user_id


def moderates(state: SimulatorState, user_id: str, channel: str) -> bool:
    """The broadcaster moderates their own channel."""
    return user_id == channel or user_id in state.moderators.get(channel, set())


def check_moderator_action(
    state: SimulatorState,
    token: AccessToken,
    scope: str,
    moderator_id: str,
    broadcaster_id: str,
) -> None:
    """A moderator (or the broadcaster) acts in the channel, e.g. an announcement or a shoutout.

    With a user token, `moderator_id` must be the token's user, and the token must carry
    `scope`. With an app token the moderator must have granted the client `scope` and
    user:bot, and the broadcaster channel:bot. Either way the moderator must moderate the
    channel (403).
    """
    if token.user_id is not None:
        user_token_with_scope(token, scope)
        if moderator_id != token.user_id:
            raise HelixError(
                401, "The ID in moderator_id must match the user ID in the user access token."
            )
    else:
        for needed in (scope, "user:bot"):
            if not state.oauth.granted_scope(token.client_id, moderator_id, needed):
                raise HelixError(
                    401, f"The sender must have authorized the app with the {needed} scope."
                )
        if not state.oauth.granted_scope(token.client_id, broadcaster_id, "channel:bot"):
            raise HelixError(401, "The broadcaster must have authorized the app with channel:bot.")
    if not moderates(state, moderator_id, broadcaster_id):
        raise HelixError(
            403, "The user in moderator_id is not one of the broadcaster's moderators."
        )


def check_chat_sender(
    state: SimulatorState, token: AccessToken, broadcaster_id: str, sender_id: str
) -> None:
    """Send Chat Message: a user token with user:write:chat whose user is the sender; or an app
    token the sender granted user:write:chat and user:bot, with channel:bot from the
    broadcaster unless the sender moderates the channel."""
    if token.user_id is not None:
        user_token_with_scope(token, "user:write:chat")
        if sender_id != token.user_id:
            raise HelixError(403, "sender_id must be the user in the access token")
        return
    for needed in ("user:write:chat", "user:bot"):
        if not state.oauth.granted_scope(token.client_id, sender_id, needed):
            raise HelixError(403, f"the sender has not granted {needed} to this client")
    granted_bot = state.oauth.granted_scope(token.client_id, broadcaster_id, "channel:bot")
    if not (moderates(state, sender_id, broadcaster_id) or granted_bot):
        raise HelixError(
            403, "the broadcaster has not granted channel:bot and the sender is not a moderator"
        )


def check_owner(token_user: str, broadcaster_id: str) -> None:
    """Polls and predictions: only the broadcaster's own token may create them."""
    if broadcaster_id != token_user:
        raise HelixError(
            401, "The ID in broadcaster_id must match the user ID in the access token."
        )


def check_channel_points(user: SimUser) -> None:
    """Polls and predictions need Channel Points, which only affiliates and partners have.
    Twitch's reference does not list this refusal; clients report a 403."""
    if user.broadcaster_type not in ("affiliate", "partner"):
        raise HelixError(
            403, "The broadcaster must be a partner or affiliate to create polls and predictions."
        )
