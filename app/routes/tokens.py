"""HTTP routes of the tokens part: authorization link, OAuth callback, device flow, revoke.

Errors answer `{"error": <code>, "message": <what to do>}`; the callback answers browsers (whose
Accept names text/html) with a small page instead, and JSON to clients that ask for it.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from app.access import AdminRequired
from app.deps import TasksDep, TokensDep
from tokens.errors import (
    InvalidOAuthState,
    OAuthError,
    TokenError,
    TwitchAppNotConfigured,
    TwitchUnreachable,
)
from tokens.identities import UnknownRole
from tokens.pages import render_page

router = APIRouter(prefix="/tokens", tags=["tokens"])

START_AGAIN = ("/tokens/authorize", "Start again on Twitch")


def _status_for(error: TokenError) -> tuple[int, str]:
    if isinstance(error, TwitchAppNotConfigured):
        return 503, "twitch_not_configured"
    if isinstance(error, InvalidOAuthState):
        return 400, "invalid_state"
    if isinstance(error, OAuthError):
        return 400, "twitch_refused"
    if isinstance(error, TwitchUnreachable):
        return 502, "twitch_unreachable"
    return 400, "token_error"


def _error_json(error: TokenError) -> JSONResponse:
    status, code = _status_for(error)
    return JSONResponse({"error": code, "message": str(error)}, status_code=status)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _callback_error(request: Request, status: int, code: str, message: str) -> Response:
    if _wants_html(request):
        page = render_page("Not connected", message, START_AGAIN)
        return HTMLResponse(page, status_code=status)
    return JSONResponse({"error": code, "message": message}, status_code=status)


@router.get("", summary="Token status (never the token itself)")
async def token_status(manager: TokensDep, _: AdminRequired) -> dict[str, Any]:
    status = await manager.fresh_status()
    accounts = await manager.identities.all(fresh=True)
    status["accounts"] = {role: identity.public() for role, identity in accounts.items()}
    return status


AccountQuery = Annotated[
    Literal["bot", "moderator"] | None,
    Query(description="Authorize the chat bot or a moderator account instead of the broadcaster"),
]


@router.get("/link", summary="A Twitch authorization link for the scopes StreamCore needs")
async def link(manager: TokensDep, _: AdminRequired, account: AccountQuery = None) -> Response:
    try:
        return JSONResponse(await manager.auth_link(account or "main"))
    except TokenError as error:
        return _error_json(error)


@router.delete("/accounts/{role}", summary="Revoke and forget the bot or moderator account")
async def remove_account(role: str, manager: TokensDep, _: AdminRequired) -> Response:
    try:
        removed = await manager.identities.remove(role, manager.oauth)
    except UnknownRole as error:
        return JSONResponse({"error": "not_found", "message": str(error)}, status_code=404)
    return JSONResponse({"removed": removed.public()})


@router.get("/authorize", summary="Send the browser to Twitch with a fresh authorization link")
async def authorize(manager: TokensDep, _: AdminRequired) -> Response:
    try:
        return RedirectResponse((await manager.auth_link())["auth_url"], status_code=303)
    except TokenError as error:
        return _error_json(error)


@router.get("/callback", summary="Where Twitch sends the browser back after authorization")
async def callback(
    request: Request,
    manager: TokensDep,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> Response:
    if error:
        with suppress(InvalidOAuthState):
            await manager.consume_state(state)  # the link is spent either way
        if error == "access_denied":
            message = (
                "You declined the authorization on Twitch, so StreamCore is not connected. "
                "To connect it, start again and choose Authorize."
            )
        else:
            message = (
                f"Twitch reported an error ({error}: {error_description or 'no details'}); "
                "StreamCore is not connected. Start again."
            )
        return _callback_error(request, 400, error, message)
    if not code:
        try:
            await manager.consume_state(state)
        except InvalidOAuthState as problem:
            return _callback_error(request, 400, "invalid_state", str(problem))
        message = "Twitch sent no authorization code; nothing was stored. Start again."
        return _callback_error(request, 400, "missing_code", message)
    try:
        purpose, token = await manager.complete_authorization(code, state)
    except TokenError as problem:
        status, error_code = _status_for(problem)
        message = str(problem)
        if isinstance(problem, OAuthError):
            message = (
                f"Twitch rejected the authorization code ({problem.message}); it may have been "
                "used already or expired. Nothing was stored. Start again at /tokens/link."
            )
        return _callback_error(request, status, error_code, message)
    message = f"Connected as {token.login}. You can close this tab."
    if purpose in ("bot", "moderator"):
        message = f"{token.login} is now the {purpose} account. You can close this tab."
    if _wants_json(request):
        return JSONResponse(
            {
                "status": "connected",
                "account": purpose,
                "login": token.login,
                "user_id": token.user_id,
                "scopes": token.scopes,
                "message": message,
            }
        )
    return HTMLResponse(render_page("Connected", message))


@router.post("/device", summary="Start the device code flow (for machines without a browser)")
async def start_device_flow(
    manager: TokensDep, tasks: TasksDep, _: AdminRequired, account: AccountQuery = None
) -> Response:
    try:
        flow, finish = await manager.begin_device_flow(account or "main")
    except TokenError as error:
        return _error_json(error)
    tasks.spawn(f"tokens.device.{flow.id}", finish)
    return JSONResponse(flow.public())


@router.get("/device/{flow_id}", summary="Progress of a device flow started here")
async def device_flow_status(flow_id: str, manager: TokensDep, _: AdminRequired) -> Response:
    flow = manager.device_flows.get(flow_id)
    if flow is None:
        message = "No such device flow (they are forgotten after a while); start a new one."
        return JSONResponse({"error": "not_found", "message": message}, status_code=404)
    return JSONResponse(flow.public())


@router.delete("", summary="Revoke the token at Twitch and delete it")
async def revoke(manager: TokensDep, _: AdminRequired) -> dict[str, Any]:
    return await manager.revoke()
