"""The dashboard's routes: the page, its login form, logout, and the page's configuration.

Access follows app.access: with STREAMCORE_ADMIN_TOKEN set, the page needs a login session
(the cookie `ADMIN_COOKIE` holds a random session id, HttpOnly, SameSite=Strict; the session
itself lives in the store, app/sessions.py), and without it the page redirects to the login
form; without an admin token the page answers local requests only. The admin token is typed
into the login form only, never stored in the browser. The page's own fetch calls send the
cookie (same origin), which `require_admin` accepts, so the dashboard needs no other
credential. Failed logins are throttled per client address (app/throttle.py).

Its files (CSS, JS) are public under /dashboard/assets: they hold no data, and the login page
needs them before anyone is logged in. The HTML pages live outside that directory, so they are
only ever served here, with their headers. The request guard (app/guards.py) adds
`SECURITY_HEADERS` to every /dashboard response, assets included.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.access import ADMIN_COOKIE, AdminRequired, admin_token_matches, is_local_connection
from app.deps import DashboardSessionsDep, LoginThrottleDep, get_settings

__all__ = ["ASSETS_DIR", "SECURITY_HEADERS", "router"]

#: The dashboard's pages (index.html, login.html, refused.html).
PAGES_DIR = Path(__file__).resolve().parents[2] / "dashboard"
#: Its files (dashboard.css, common.js, keys.js, dashboard.js), mounted at /dashboard/assets.
ASSETS_DIR = PAGES_DIR / "assets"
#: Where the login page shows its error; replaced by an escaped message (or nothing).
_ERROR_MARKER = "<!--login-error-->"
#: The page loads nothing from elsewhere and may not be framed (clickjacking the start/stop
#: buttons); 'self' covers the same-origin WebSocket of the live feed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Overlay URLs on the page may carry client keys; never leak them to another site in a
    # Referer. Not "no-referrer": under it browsers send `Origin: null` with the page's own
    # POSTs, which the CSRF check (app/guards.py) must refuse.
    "Referrer-Policy": "same-origin",
}
_PAGE_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-store"}

router = APIRouter(prefix="/dashboard", tags=["dashboard"])


def _page(
    name: str,
    status_code: int = 200,
    error: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    text = (PAGES_DIR / name).read_text(encoding="utf-8")
    if error is not None:
        message = f'<p class="form-error" role="alert" id="login-error">{html.escape(error)}</p>'
        text = text.replace(_ERROR_MARKER, message)
    headers = {**_PAGE_HEADERS, **(headers or {})}
    return HTMLResponse(text, status_code=status_code, headers=headers)


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


def _set_session_cookie(
    request: Request, response: Response, session_id: str, max_age: int
) -> None:
    response.set_cookie(
        ADMIN_COOKIE,
        session_id,
        max_age=max_age,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def _clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        ADMIN_COOKIE,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def _to_login(request: Request) -> Response:
    """The login form; a cookie that did not open a session (expired, revoked, or an old one
    holding the admin token itself) is cleared on the way."""
    response = _to("/dashboard/login")
    if ADMIN_COOKIE in request.cookies:
        _clear_session_cookie(request, response)
    return response


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("", summary="The dashboard page", response_class=HTMLResponse)
async def dashboard(request: Request, sessions: DashboardSessionsDep) -> Response:
    settings = get_settings(request)
    if settings.streamcore_admin_token is not None:
        if await sessions.check(request.cookies.get(ADMIN_COOKIE)):
            return _page("index.html")
        return _to_login(request)
    if not is_local_connection(request.scope):
        return _page("refused.html", status_code=403)
    return _page("index.html")


@router.get("/login", summary="The dashboard's login form", response_class=HTMLResponse)
async def login_form(request: Request, sessions: DashboardSessionsDep) -> Response:
    if get_settings(request).streamcore_admin_token is None or await sessions.check(
        request.cookies.get(ADMIN_COOKIE)
    ):
        return _to("/dashboard")
    return _page("login.html")


@router.post("/login", summary="Log in with the admin token; sets the login cookie")
async def login(
    request: Request,
    sessions: DashboardSessionsDep,
    throttle: LoginThrottleDep,
    token: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    settings = get_settings(request)
    if settings.streamcore_admin_token is None:
        return _to("/dashboard")
    # Checked before the token, so that a blocked client learns nothing, not even a hit.
    wait_s = throttle.retry_after(_client(request))
    if wait_s is not None:
        return _page(
            "login.html",
            status_code=429,
            error=f"Too many failed attempts. Wait {wait_s} s, then try again.",
            headers={"Retry-After": str(wait_s)},
        )
    if not admin_token_matches(settings, token.strip()):
        throttle.failed(_client(request))
        return _page(
            "login.html",
            status_code=401,
            error="That is not the admin token. Paste the value of STREAMCORE_ADMIN_TOKEN "
            "from StreamCore's configuration.",
        )
    throttle.succeeded(_client(request))
    # A new id at every login; the one this browser held (if any) ends now (session fixation).
    await sessions.revoke(request.cookies.get(ADMIN_COOKIE))
    session_id = await sessions.open()
    response = _to("/dashboard")
    _set_session_cookie(request, response, session_id, math.ceil(sessions.max_age_s))
    return response


@router.post("/logout", summary="Log out: ends the session and clears the login cookie")
async def logout(request: Request, sessions: DashboardSessionsDep) -> Response:
    await sessions.revoke(request.cookies.get(ADMIN_COOKIE))
    target = "/dashboard/login" if get_settings(request).streamcore_admin_token else "/dashboard"
    response = _to(target)
    _clear_session_cookie(request, response)
    return response


@router.get("/config", summary="What the dashboard page should offer")
async def config(request: Request, _: AdminRequired) -> dict[str, Any]:
    settings = get_settings(request)
    return {
        "demo": bool(settings.streamcore_demo_simulator_url),
        "admin_required": settings.streamcore_admin_token is not None,
        # Whether WS /ws/events asks this page for a client key: a logged-in dashboard (its
        # session cookie) is let in without one, see app/routes/events.py.
        "feed_key_required": (settings.ws_require_auth or settings.listens_beyond_loopback)
        and settings.streamcore_admin_token is None,
    }
