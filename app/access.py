"""Who may use the control surface: loopback detection and the admin guard.

Policy:
- With STREAMCORE_ADMIN_TOKEN set, `/system/*`, `/tokens/*` (except the OAuth callback), key
  management, `/metrics`, `/demo/*` and `/dashboard/config` need `Authorization: Bearer
  <token>`, or the dashboard's login cookie holding a valid session id (app/sessions.py; the
  cookie never holds the token itself).
- Without it they answer only local requests: the connection arrived on a loopback address,
  from a loopback address, and carries no proxy forwarding header (a reverse proxy on the same
  host would otherwise make every internet request look local).

`admin_grant` decides; `require_admin` (the route dependency) and the request guard
(app/guards.py, which refuses before the body is read) both ask it, so they cannot disagree.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import Scope

from app.deps import SettingsDep, find_dashboard_sessions
from app.sessions import DashboardSessions
from core.settings import Settings, is_loopback

#: Cookie the dashboard's login form sets: a session id (app/sessions.py), HttpOnly. The name
#: is the one that once held the admin token, so a new login overwrites such a cookie.
ADMIN_COOKIE = "streamcore_admin"
#: Set on a WebSocket scope by the request guard when its login cookie is a valid session.
DASHBOARD_SESSION_SCOPE_KEY = "streamcore.dashboard_session"
_FORWARDING_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


class Grant(Enum):
    """How a request was let onto the control surface."""

    BEARER = "bearer"  # Authorization: Bearer <admin token>
    SESSION = "session"  # the dashboard's login cookie
    LOCAL = "local"  # no admin token configured, and a local connection


@dataclass(frozen=True)
class Refusal:
    status_code: int
    detail: str
    headers: dict[str, str] = field(default_factory=dict)


UNAUTHORIZED = Refusal(
    401,
    "Admin token required: send 'Authorization: Bearer <token>' with the value of "
    "STREAMCORE_ADMIN_TOKEN",
    {"WWW-Authenticate": "Bearer"},
)
LOCAL_ONLY = Refusal(
    403,
    "This endpoint answers only local requests while STREAMCORE_ADMIN_TOKEN is unset; set "
    "STREAMCORE_ADMIN_TOKEN to use it from elsewhere",
)


def is_local_connection(scope: Scope) -> bool:
    """True when both ends of the connection are loopback and no proxy forwarded it."""
    server = scope.get("server") or ("", None)
    client = scope.get("client") or ("", None)
    if not (is_loopback(str(server[0])) and is_loopback(str(client[0]))):
        return False
    headers = scope.get("headers") or []
    return not any(name in _FORWARDING_HEADERS for name, _ in headers)


def beyond_loopback(settings: Settings, scope: Scope) -> bool:
    """True when this connection must be authenticated: configured or observed non-local."""
    return settings.listens_beyond_loopback or not is_local_connection(scope)


def bearer_token(scope: Scope) -> str | None:
    header = Headers(scope=scope).get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def session_cookie(scope: Scope) -> str | None:
    return HTTPConnection(scope).cookies.get(ADMIN_COOKIE) or None


def admin_token_matches(settings: Settings, presented: str | None) -> bool:
    expected = settings.streamcore_admin_token
    if expected is None or presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.get_secret_value().encode())


async def admin_grant(
    scope: Scope, settings: Settings, sessions: DashboardSessions | None
) -> Grant | Refusal:
    """The admin rule (module docstring). `sessions` None (services not built yet): no
    session can be checked, so only the Bearer token or the local rule can pass."""
    if settings.streamcore_admin_token is not None:
        if admin_token_matches(settings, bearer_token(scope)):
            return Grant.BEARER
        if sessions is not None and await sessions.check(session_cookie(scope)):
            return Grant.SESSION
        return UNAUTHORIZED
    return Grant.LOCAL if is_local_connection(scope) else LOCAL_ONLY


async def require_admin(
    request: Request,
    settings: SettingsDep,
    sessions: Annotated[DashboardSessions | None, Depends(find_dashboard_sessions)],
) -> None:
    """FastAPI dependency guarding the control surface (see the module docstring). The
    sessions are optional so that a router served alone (tests) still takes the Bearer token."""
    verdict = await admin_grant(request.scope, settings, sessions)
    if isinstance(verdict, Refusal):
        raise HTTPException(verdict.status_code, verdict.detail, headers=verdict.headers or None)


def dashboard_session_verified(scope: Scope) -> bool:
    """True when the request guard found a valid dashboard session on this (WebSocket) scope."""
    return scope.get(DASHBOARD_SESSION_SCOPE_KEY) is True


AdminRequired = Annotated[None, Depends(require_admin)]
