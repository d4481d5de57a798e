"""The Helix conduit endpoints under `/helix/eventsub/conduits`: every one needs an app token.

Get/Create/Update/Delete Conduits and Get/Update Conduit Shards, with the status codes of
https://dev.twitch.tv/docs/api/reference/#create-conduits and the conduit entries after it. A user
token gets 401, like a missing or invalid token or a Client-Id that is not the token's.
Update Conduit Shards answers 202 even when some shards failed: they are listed in `errors`.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from simulator.conduits import ENABLED, WEBHOOK_PENDING
from simulator.errors import HelixError
from simulator.helix import Token, json_body, json_response, ratelimit_headers, sim_state
from simulator.oauth import AccessToken

router = APIRouter(prefix="/helix/eventsub/conduits")

#: Shards per page of Get Conduit Shards (Twitch documents no page size; `after` pages on).
SHARDS_PAGE = 100
#: The values Get Conduit Shards' `status` filter accepts: enabled plus the webhook and
#: WebSocket statuses of https://dev.twitch.tv/docs/api/reference/#get-conduit-shards
SHARD_STATUSES = frozenset(
    {
        ENABLED,
        "webhook_callback_verification_pending",
        "webhook_callback_verification_failed",
        "notification_failures_exceeded",
        "websocket_disconnected",
        "websocket_failed_ping_pong",
        "websocket_received_inbound_traffic",
        "websocket_connection_unused",
        "websocket_internal_error",
        "websocket_network_timeout",
        "websocket_network_error",
        "websocket_failed_to_reconnect",
    }
)


def _app_client(token: AccessToken) -> str:
    """The caller's client id; conduits are for app access tokens only."""
    if token.user_id is not None:
        raise HelixError(401, "conduit endpoints require an app access token")
    return token.client_id


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"shards:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        kind, _, offset = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "shards" and offset.isdigit():
            return int(offset)
    except ValueError:
        pass
    raise HelixError(400, "invalid cursor in 'after'")


@router.get("")
async def get_conduits(request: Request, token: Token) -> Response:
    conduits = sim_state(request).conduits.owned_by(_app_client(token))
    return json_response(request, {"data": [c.public() for c in conduits]})


@router.post("")
async def create_conduit(request: Request, token: Token) -> Response:
    client_id = _app_client(token)
    conduit = sim_state(request).conduits.create(client_id, await json_body(request))
    return json_response(request, {"data": [conduit.public()]})


@router.patch("")
async def update_conduit(request: Request, token: Token) -> Response:
    client_id = _app_client(token)
    conduit = sim_state(request).conduits.update(client_id, await json_body(request))
    return json_response(request, {"data": [conduit.public()]})


@router.delete("")
async def delete_conduit(request: Request, token: Token) -> Response:
    client_id = _app_client(token)
    conduit_id = request.query_params.get("id")
    if not conduit_id:
        raise HelixError(400, "the 'id' query parameter is required")
    sim_state(request).delete_conduit(client_id, conduit_id)
    return Response(status_code=204, headers=ratelimit_headers(request))


@router.get("/shards")
async def get_shards(request: Request, token: Token) -> Response:
    client_id = _app_client(token)
    query = request.query_params
    conduit_id = query.get("conduit_id")
    if not conduit_id:
        raise HelixError(400, "the 'conduit_id' query parameter is required")
    status = query.get("status")
    if status is not None and status not in SHARD_STATUSES:
        raise HelixError(400, f"invalid status {status!r}")
    offset = _offset(query.get("after"))
    conduit = sim_state(request).conduits.owned(client_id, conduit_id)
    shards = [s for s in conduit.shards if status is None or s.status == status]
    page = shards[offset : offset + SHARDS_PAGE]
    more = offset + SHARDS_PAGE < len(shards)
    pagination: dict[str, Any] = {"cursor": _cursor(offset + SHARDS_PAGE)} if more else {}
    return json_response(request, {"data": [s.public() for s in page], "pagination": pagination})


@router.patch("/shards")
async def update_shards(request: Request, token: Token) -> Response:
    client_id = _app_client(token)
    state = sim_state(request)
    body = await json_body(request)
    data, errors = state.conduits.assign(client_id, body)
    for entry in data:
        # A session carrying a shard is in use: the 4003 deadline no longer applies to it.
        session = state.sessions.get(entry["transport"].get("session_id", ""))
        if session is not None:
            session.subscribe_deadline = None
    # A shard given a webhook gets its challenge (once, however often the body named it).
    conduit = state.conduits.by_id[body["conduit_id"]] if data else None
    for shard_id in dict.fromkeys(entry["id"] for entry in data):
        shard = conduit.shard(shard_id) if conduit is not None else None
        if shard is not None and shard.method == "webhook" and shard.status == WEBHOOK_PENDING:
            assert conduit is not None
            state.webhooks.verify_shard(conduit, shard)
    return json_response(request, {"data": data, "errors": errors}, 202)
