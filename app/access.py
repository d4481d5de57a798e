"""Who may use the control surface: loopback detection and the admin-token guard.

Policy:
- With STREAMCORE_ADMIN_TOKEN set, `/system/*`, `/tokens/*` (except the OAuth callback), key
  management and the dashboard need `Authorization: Bearer <token>` (or the dashboard's login
  cookie holding the same token).
- Without it they answer only local requests: the connection arrived on a loopback address,
  from a loopback address, and carries no proxy forwarding header (a reverse proxy on the same
  host would otherwise make every internet request look local).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket
from starlette.types import Scope

from app.deps import SettingsDep
from core.settings import Settings, is_loopback

#: Cookie the dashboard's login form sets; it holds the admin token itself, HttpOnly.
ADMIN_COOKIE = "streamcore_admin"
_FORWARDING_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


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


def presented_admin_token(connection: Request | WebSocket) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return connection.cookies.get(ADMIN_COOKIE)


def admin_token_matches(settings: Settings, presented: str | None) -> bool:
    expected = settings.streamcore_admin_token
    if expected is None or presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.get_secret_value().encode())


def require_admin(request: Request, settings: SettingsDep) -> None:
    """FastAPI dependency guarding the control surface (see the module docstring)."""
    if settings.streamcore_admin_token is not None:
        if not admin_token_matches(settings, presented_admin_token(request)):
            raise HTTPException(
                status_code=401,
                detail="Admin token required: send 'Authorization: Bearer <token>' with the "
                "value of STREAMCORE_ADMIN_TOKEN",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return
    if not is_local_connection(request.scope):
        raise HTTPException(
            status_code=403,
            detail="This endpoint answers only local requests while STREAMCORE_ADMIN_TOKEN is "
            "unset; set STREAMCORE_ADMIN_TOKEN to use it from elsewhere",
        )


AdminRequired = Annotated[None, Depends(require_admin)]
