"""The dashboard's routes: the page, its login form, logout, and the page's configuration.

Access follows app.access: with STREAMCORE_ADMIN_TOKEN set, the page needs the login cookie
(`ADMIN_COOKIE`, holding the admin token, HttpOnly, SameSite=Strict), and without it the page
redirects to the login form; without an admin token the page answers local requests only. The
page's own fetch calls send the cookie (same origin), which `require_admin` accepts, so the
dashboard needs no other credential. Its files (CSS, JS) are public under /dashboard/assets:
they hold no data, and the login page needs them before anyone is logged in.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.access import (
    ADMIN_COOKIE,
    AdminRequired,
    admin_token_matches,
    is_local_connection,
    presented_admin_token,
)
from app.deps import get_settings

__all__ = ["ASSETS_DIR", "router"]

#: The dashboard's files (index.html, login.html, dashboard.css, dashboard.js).
ASSETS_DIR = Path(__file__).resolve().parents[2] / "dashboard"
#: How long the login cookie lives: a week of streams without logging in again; logout (or a
#: new admin token) ends it sooner.
SESSION_MAX_AGE_S = 7 * 24 * 3600
#: Where the login page shows its error; replaced by an escaped message (or nothing).
_ERROR_MARKER = "<!--login-error-->"
#: The page loads nothing from elsewhere and may not be framed (clickjacking the start/stop
#: buttons); 'self' covers the same-origin WebSocket of the live feed.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Overlay URLs on the page may carry client keys; never leak them in a Referer.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(prefix="/dashboard", tags=["dashboard"])


def _page(name: str, status_code: int = 200, error: str | None = None) -> HTMLResponse:
    text = (ASSETS_DIR / name).read_text(encoding="utf-8")
    if error is not None:
        message = f'<p class="form-error" role="alert" id="login-error">{html.escape(error)}</p>'
        text = text.replace(_ERROR_MARKER, message)
    return HTMLResponse(text, status_code=status_code, headers=_SECURITY_HEADERS)


def _logged_in(request: Request) -> bool:
    return admin_token_matches(get_settings(request), presented_admin_token(request))


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


@router.get("", summary="The dashboard page", response_class=HTMLResponse)
async def dashboard(request: Request) -> Response:
    settings = get_settings(request)
    if settings.streamcore_admin_token is not None:
        return _page("index.html") if _logged_in(request) else _to("/dashboard/login")
    if not is_local_connection(request.scope):
        return _page("refused.html", status_code=403)
    return _page("index.html")


@router.get("/login", summary="The dashboard's login form", response_class=HTMLResponse)
async def login_form(request: Request) -> Response:
    if get_settings(request).streamcore_admin_token is None or _logged_in(request):
        return _to("/dashboard")
    return _page("login.html")


@router.post("/login", summary="Log in with the admin token; sets the login cookie")
async def login(request: Request, token: Annotated[str, Form(max_length=1024)] = "") -> Response:
    settings = get_settings(request)
    if settings.streamcore_admin_token is None:
        return _to("/dashboard")
    if not admin_token_matches(settings, token.strip()):
        return _page(
            "login.html",
            status_code=401,
            error="That is not the admin token. Paste the value of STREAMCORE_ADMIN_TOKEN "
            "from StreamCore's configuration.",
        )
    response = _to("/dashboard")
    response.set_cookie(
        ADMIN_COOKIE,
        token.strip(),
        max_age=SESSION_MAX_AGE_S,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout", summary="Log out: clears the login cookie")
async def logout(request: Request) -> Response:
    target = "/dashboard/login" if get_settings(request).streamcore_admin_token else "/dashboard"
    response = _to(target)
    response.delete_cookie(
        ADMIN_COOKIE,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/config", summary="What the dashboard page should offer")
async def config(request: Request, _: AdminRequired) -> dict[str, Any]:
    settings = get_settings(request)
    return {
        "demo": bool(settings.streamcore_demo_simulator_url),
        "admin_required": settings.streamcore_admin_token is not None,
        # Whether WS /ws/events asks this page for a client key: a logged-in dashboard (the
        # admin cookie) is let in without one, see app/routes/events.py.
        "feed_key_required": (settings.ws_require_auth or settings.listens_beyond_loopback)
        and settings.streamcore_admin_token is None,
    }
