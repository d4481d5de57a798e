"""The Helix subset under `/helix`: EventSub subscriptions, Get Users, Send Chat Message.

The conduit endpoints (`/helix/eventsub/conduits...`) are in `conduit_routes`.

Every call checks `Client-Id` and the Bearer token against the simulated OAuth, takes one
point from the caller's token bucket, and answers with the `Ratelimit-*` headers. Errors use
Twitch's body {"error": "Bad Request", "status": 400, "message": "..."}.
"""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from simulator.errors import HelixError
from simulator.events import chat_fragments
from simulator.oauth import AccessToken
from simulator.ratelimit import UNAUTHENTICATED
from simulator.state import SimulatorState

router = APIRouter(prefix="/helix")

#: Get Users accepts at most this many ids and logins combined.
MAX_USERS_PER_CALL = 100
#: Send Chat Message refuses longer messages with 422.
MAX_CHAT_MESSAGE = 500


def sim_state(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.simulator
    return state


def authenticate(request: Request) -> AccessToken:
    """Check Client-Id + Bearer token and charge the rate limit; raise HelixError otherwise."""
    state = sim_state(request)
    client_id = request.headers.get("client-id", "")
    request.state.bucket = state.ratelimits.bucket(client_id, UNAUTHENTICATED)
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise HelixError(401, "OAuth token is missing")
    token = state.oauth.valid_token(value.strip())
    if token is None:
        raise HelixError(401, "Invalid OAuth token")
    if not client_id:
        raise HelixError(401, "Client-Id header is required")
    if client_id != token.client_id:
        raise HelixError(401, "Client ID and OAuth token do not match")
    bucket = state.ratelimits.bucket(token.client_id, token.user_id)
    request.state.bucket = bucket
    if not bucket.take():
        raise HelixError(429, "Too Many Requests: wait until Ratelimit-Reset")
    return token


Token = Annotated[AccessToken, Depends(authenticate)]


def ratelimit_headers(request: Request) -> dict[str, str]:
    bucket = getattr(request.state, "bucket", None)
    return bucket.headers() if bucket is not None else {}


def helix_error_response(request: Request, error: HelixError) -> JSONResponse:
    """The exception handler's response: Twitch's error body plus the rate-limit headers."""
    return JSONResponse(error.body(), status_code=error.status, headers=ratelimit_headers(request))


def json_response(request: Request, body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=ratelimit_headers(request))


async def json_body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        raise HelixError(400, "the body is not valid JSON") from None


# -- EventSub subscriptions ----------------------------------------------------------------


@router.post("/eventsub/subscriptions")
async def create_subscription(request: Request, token: Token) -> Response:
    state = sim_state(request)
    sub = state.subscriptions.create(
        token, await json_body(request), state.open_session_or_none, state.conduits.owns
    )
    if sub.callback is not None:
        state.webhooks.verify_subscription(sub)  # the challenge goes out after this answer
    elif sub.conduit_id is None:
        state.sessions[sub.session_id].subscribe_deadline = None
    totals = state.subscriptions.totals(token.client_id, token.user_id)
    return json_response(request, {"data": [sub.public()], **totals}, 202)


_FILTERS = ("status", "type", "user_id", "subscription_id")
#: Subscriptions per page of Get EventSub Subscriptions. Twitch documents no page size (and no
#: `first`); 100 is Helix's usual maximum, and `pagination.cursor` + `after` page on.
SUBSCRIPTIONS_PAGE = 100


def encode_cursor(seq: int) -> str:
    """An opaque cursor, as Twitch's are: clients must not build or parse them."""
    return base64.urlsafe_b64encode(f"sub:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, seq = text.partition(":")
        if kind != "sub" or not seq.isdigit():
            raise ValueError(text)
        return int(seq)
    except ValueError:
        raise HelixError(400, "invalid cursor in 'after'") from None


@router.get("/eventsub/subscriptions")
async def list_subscriptions(request: Request, token: Token) -> Response:
    state = sim_state(request)
    given = {k: request.query_params[k] for k in _FILTERS if k in request.query_params}
    if len(given) > 1:
        raise HelixError(
            400, "use at most one of the filters status, type, user_id, subscription_id"
        )
    after = decode_cursor(request.query_params["after"]) if "after" in request.query_params else 0
    # A user token lists its WebSocket subscriptions; an app token the client's conduit and
    # webhook ones.
    owner = (token.client_id, token.user_id)
    listed = state.subscriptions.listing(owner, given, after)
    page = list(itertools.islice(listed, SUBSCRIPTIONS_PAGE + 1))
    more = len(page) > SUBSCRIPTIONS_PAGE
    page = page[:SUBSCRIPTIONS_PAGE]
    body = {
        "data": [s.public() for s in page],
        **state.subscriptions.totals(token.client_id, token.user_id),
        "pagination": {"cursor": encode_cursor(page[-1].seq)} if more else {},
    }
    return json_response(request, body)


@router.delete("/eventsub/subscriptions")
async def delete_subscription(request: Request, token: Token) -> Response:
    sub_id = request.query_params.get("id")
    if not sub_id:
        raise HelixError(400, "the 'id' query parameter is required")
    sim_state(request).subscriptions.delete(token.client_id, token.user_id, sub_id)
    return Response(status_code=204, headers=ratelimit_headers(request))


# -- users ---------------------------------------------------------------------------------


@router.get("/users")
async def get_users(request: Request, token: Token) -> Response:
    state = sim_state(request)
    ids = request.query_params.getlist("id")
    logins = [login.lower() for login in request.query_params.getlist("login")]
    if len(ids) + len(logins) > MAX_USERS_PER_CALL:
        raise HelixError(400, f"at most {MAX_USERS_PER_CALL} id and login parameters combined")
    if not ids and not logins:
        if token.user_id is None:
            raise HelixError(400, "an app access token needs at least one id or login")
        ids = [token.user_id]
    # Each user once, in the order asked for; ids and logins that name no one are skipped.
    named = [state.directory.by_id.get(i) for i in ids]
    named += [state.directory.by_login.get(login) for login in logins]
    found = list({u.id: u for u in named if u is not None}.values())
    data = [
        u.as_helix(include_email=u.id == token.user_id and "user:read:email" in token.scopes)
        for u in found
    ]
    return json_response(request, {"data": data})


# -- chat ----------------------------------------------------------------------------------


def _check_chat_permission(
    state: SimulatorState, token: AccessToken, broadcaster: str, sender: str
) -> None:
    if token.user_id is not None:
        if "user:write:chat" not in token.scopes:
            raise HelixError(401, "Missing scope: user:write:chat")
        if sender != token.user_id:
            raise HelixError(403, "sender_id must be the user in the access token")
        return
    if not state.oauth.granted_scope(token.client_id, sender, "user:bot"):
        raise HelixError(403, "the sender has not granted user:bot to this client")
    is_moderator = sender in state.moderators.get(broadcaster, set()) or sender == broadcaster
    if not (is_moderator or state.oauth.granted_scope(token.client_id, broadcaster, "channel:bot")):
        raise HelixError(
            403, "the broadcaster has not granted channel:bot and the sender is not a moderator"
        )


@router.post("/chat/messages")
async def send_chat_message(request: Request, token: Token) -> Response:
    state = sim_state(request)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise HelixError(400, "the body must be a JSON object")
    broadcaster, sender, text = (
        body.get("broadcaster_id"),
        body.get("sender_id"),
        body.get("message"),
    )
    if not all(isinstance(v, str) and v for v in (broadcaster, sender, text)):
        raise HelixError(400, "broadcaster_id, sender_id and message are required strings")
    assert isinstance(broadcaster, str) and isinstance(sender, str) and isinstance(text, str)
    if broadcaster not in state.users_by_id or sender not in state.users_by_id:
        raise HelixError(400, "broadcaster_id or sender_id names no user")
    if "for_source_only" in body and token.user_id is not None:
        raise HelixError(400, "for_source_only may be used only with an app access token")
    _check_chat_permission(state, token, broadcaster, sender)
    if len(text) > MAX_CHAT_MESSAGE:
        raise HelixError(422, f"the message is longer than {MAX_CHAT_MESSAGE} characters")
    chatter = state.users_by_id[sender]
    message_id = str(uuid.uuid4())
    overrides = {
        "message_id": message_id,
        "chatter_user_id": chatter.id,
        "chatter_user_login": chatter.login,
        "chatter_user_name": chatter.display_name,
        "message": {"text": text, "fragments": chat_fragments(text)},
    }
    # Everyone reading this channel's chat sees the message, as on Twitch.
    chat = {"broadcaster_user_id": broadcaster}
    state.deliver_once("channel.chat.message", "1", chat, overrides, {}, 0.0)
    return json_response(
        request, {"data": [{"message_id": message_id, "is_sent": True, "drop_reason": None}]}
    )
