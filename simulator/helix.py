"""The Helix subset under `/helix`: EventSub subscriptions and Get Users, and what every Helix
route shares (authentication, the rate limit, Twitch's error body).

The conduit endpoints (`/helix/eventsub/conduits...`) are in `conduit_routes`; chat writes
(messages, announcements, shoutouts) in `helix_chat`; clips, markers, polls and predictions in
`helix_stream`.

Every call checks `Client-Id` and the Bearer token against the simulated OAuth, takes one
point from the caller's token bucket, and answers with the `Ratelimit-*` headers. Errors use
Twitch's body {"error": "Bad Request", "status": 400, "message": "..."}.
"""

from __future__ import annotations

import base64
import itertools
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from simulator.errors import HelixError
from simulator.oauth import AccessToken
from simulator.ratelimit import UNAUTHENTICATED
from simulator.state import SimulatorState

router = APIRouter(prefix="/helix")

#: Get Users accepts at most this many ids and logins combined.
MAX_USERS_PER_CALL = 100


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
