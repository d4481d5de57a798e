"""The simulated id.twitch.tv under `/oauth2`: authorize, token, device, validate, revoke.

`/authorize` needs no browser: it approves at once as the configured user (or denies, if set
to) and redirects to `redirect_uri`. That user is any simulated user, synthetic channels
included: `POST /control/oauth {"authorize_as": role, id or login}` picks who signs in next.
`/activate` is the device-flow verification page.
Errors use Twitch's OAuth body {"status": 400, "message": "..."}.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from simulator.errors import OAuthRefusal
from simulator.oauth import DEVICE_GRANT, parse_scopes
from simulator.state import SimulatorState

router = APIRouter(prefix="/oauth2")


def _state(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.simulator
    return state


async def _form(request: Request) -> dict[str, str]:
    """Form fields from the query string and the body (urlencoded or multipart), as Twitch
    accepts all three."""
    fields = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        fields.update({k: v for k, v in form.items() if isinstance(v, str)})
    else:
        fields.update(parse_qsl((await request.body()).decode("utf-8", "replace")))
    return fields


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


@router.get("/authorize")
async def authorize(request: Request) -> Response:
    state = _state(request)
    query = request.query_params
    redirect_uri = query.get("redirect_uri")
    client = state.oauth.check_authorize_request(
        query.get("client_id"), redirect_uri, query.get("response_type")
    )
    assert redirect_uri is not None
    scopes = parse_scopes(query.get("scope"))
    echo = {"state": query["state"]} if "state" in query else {}
    if state.authorize_deny:
        params = {
            "error": "access_denied",
            "error_description": "The user denied you access",
            **echo,
        }
        return RedirectResponse(_with_query(redirect_uri, params), status_code=302)
    user = state.approving_user()
    code = state.oauth.create_auth_code(client.client_id, redirect_uri, user.id, scopes)
    params = {"code": code, "scope": " ".join(scopes), **echo}
    return RedirectResponse(_with_query(redirect_uri, params), status_code=302)


@router.post("/token")
async def token(request: Request) -> Response:
    state = _state(request)
    form = await _form(request)
    grant = form.get("grant_type")
    client_id, secret = form.get("client_id", ""), form.get("client_secret")
    body: dict[str, Any]
    if grant == "authorization_code":
        body = state.oauth.exchange_code(
            client_id, secret, form.get("code", ""), form.get("redirect_uri")
        )
    elif grant == "refresh_token":
        body = state.oauth.refresh(client_id, secret, form.get("refresh_token", ""))
    elif grant == "client_credentials":
        body = state.oauth.issue_app_token(client_id, secret)
    elif grant == DEVICE_GRANT:
        auto_user = None if state.authorize_deny else state.approving_user().id
        body = state.oauth.poll_device(client_id, form.get("device_code", ""), auto_user)
    else:
        raise OAuthRefusal(400, "unsupported grant_type")
    return JSONResponse(body)


@router.post("/device")
async def device(request: Request) -> Response:
    form = await _form(request)
    activate_url = str(request.url_for("activate_page"))
    scopes = parse_scopes(form.get("scopes"))
    return JSONResponse(
        _state(request).oauth.start_device_flow(form.get("client_id", ""), scopes, activate_url)
    )


@router.get("/validate")
async def validate(request: Request) -> Response:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() not in ("oauth", "bearer"):
        raise OAuthRefusal(401, "missing authorization token")
    return JSONResponse(_state(request).oauth.validate(value.strip()))


@router.post("/revoke")
async def revoke(request: Request) -> Response:
    form = await _form(request)
    _state(request).oauth.revoke(form.get("client_id"), form.get("token"))
    return Response(status_code=200)


_ACTIVATE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Activate your device (StreamCore simulator)</title></head>
<body><h1>Activate your device</h1>
<p>Simulated Twitch: approving signs in as <strong>{login}</strong>.</p>
<form method="post"><label>Code <input name="user_code" value="{code}" maxlength="8"></label>
<button name="decision" value="approve">Activate</button>
<button name="decision" value="deny">Deny</button></form>
{notice}</body></html>"""


@router.get("/activate", name="activate_page")
async def activate_page(request: Request) -> Response:
    state = _state(request)
    code = request.query_params.get("device-code", "")
    login = state.approving_user().login
    return HTMLResponse(
        _ACTIVATE_PAGE.format(login=html.escape(login), code=html.escape(code), notice="")
    )


@router.post("/activate")
async def activate(request: Request) -> Response:
    state = _state(request)
    form = await _form(request)
    user = state.approving_user()
    approve = form.get("decision", "approve") == "approve" and not state.authorize_deny
    state.oauth.decide_device(form.get("user_code", ""), user.id if approve else None)
    notice = (
        "<p>Device activated. You can close this page.</p>" if approve else "<p>Access denied.</p>"
    )
    return HTMLResponse(
        _ACTIVATE_PAGE.format(login=html.escape(user.login), code="", notice=notice)
    )
