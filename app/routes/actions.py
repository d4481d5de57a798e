"""`GET /actions` (every action with its schema) and `POST /actions/{name}` (call one).

The body of a call is the action's arguments as a JSON object; `?channel=<login or id>` names
the channel to act for. Who may call what is app.callers: the operator, or a client key given
as `?key=` or `Authorization: Bearer sck_...` whose `actions` patterns allow it. The answer is
`{"ok": true, "result": ...}`, or `{"ok": false, "error": {"code", "message", ...}}` with the
status that fits the code.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.access import Grant, admin_grant, bearer_token
from app.callers import Caller, CallLimits
from app.deps import ServicesDep, find_dashboard_sessions
from app.services import Services
from events.constants import CLIENT_KEY_PREFIX
from events.keys import ClientKeys
from worker_runtime.actions import ActionFailed

router = APIRouter(tags=["actions"])

#: The HTTP status of each failure code.
STATUS = {
    "unknown_action": 404,
    "invalid_args": 422,
    "auth_required": 401,
    "unauthorized": 401,
    "forbidden": 403,
    "rate_limited": 429,
    "timeout": 504,
    "twitch_error": 502,
    "failed": 500,
}
#: The largest call body read (an action's arguments are small).
MAX_BODY_BYTES = 16 * 1024


def failure(error: ActionFailed) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "error": error.public()}, status_code=STATUS.get(error.code, 400)
    )


@router.get("/actions", summary="Every action with its JSON schema, scopes and description")
async def list_actions(services: ServicesDep) -> dict[str, Any]:
    runner = services.actions
    return {"actions": runner.public() if runner is not None else []}


def _same_origin(request: Request) -> bool:
    origin, host = request.headers.get("origin"), request.headers.get("host")
    return origin is None or (host is not None and urlsplit(origin).netloc == host)


async def identify(request: Request, services: Services) -> Caller:
    """The operator, or the client key of the request; ActionFailed otherwise."""
    token = bearer_token(request.scope)
    key = request.query_params.get("key") or (
        token if token and token.startswith(CLIENT_KEY_PREFIX) else None
    )
    if key:
        record = await ClientKeys(services.store).verify(key)
        if record is None:
            raise ActionFailed("unauthorized", "invalid or revoked key")
        return Caller(f"key {record.name}", record)
    grant = await admin_grant(request.scope, services.settings, find_dashboard_sessions(request))
    if isinstance(grant, Grant) and (grant is Grant.BEARER or _same_origin(request)):
        return Caller("dashboard" if grant is Grant.SESSION else "operator")
    raise ActionFailed("unauthorized", "an admin token or a client key (?key=) is required")


@router.post("/actions/{name}", summary="Call an action with JSON arguments")
async def call_action(name: str, request: Request, services: ServicesDep) -> JSONResponse:
    runner = services.actions
    caller = Caller("unknown caller")
    ran = False
    try:
        if runner is None:
            raise ActionFailed("unknown_action", "no actions in this process")
        caller = await identify(request, services)
        if not caller.may_call(name):
            raise ActionFailed("forbidden", f"this key may not call {name[:64]}")
        limits: CallLimits = request.app.state.call_limits
        await limits.take(caller, services.bus)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise ActionFailed("invalid_args", f"arguments over {MAX_BODY_BYTES} bytes")
        try:
            args = json.loads(body) if body.strip() else {}
        except ValueError:
            raise ActionFailed("invalid_args", "the body must be a JSON object") from None
        channel = await caller.channel_for(
            services.tokens.channels, request.query_params.get("channel")
        )
        ran = True
        result = await runner.call(name, args, caller.label, channel)
    except ActionFailed as error:
        if runner is not None and not ran:  # refused before it ran: logged and counted too
            runner.record(name, caller.label, error.code)
        return failure(error)
    return JSONResponse({"ok": True, "result": result})
