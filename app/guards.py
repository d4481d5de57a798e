"""The request guard: a pure ASGI middleware that checks every request before the app reads it.

For HTTP, in this order (each refusal is JSON and closes the connection, since the body may be
left unread):

1. **Host** in the allowlist (app/origins.py), else 400: defeats DNS rebinding.
2. **Control paths** (`is_control_path`: the paths of every route guarded by AdminRequired): the
   admin rule (`app.access.admin_grant`) before a byte of the body is read, else 401/403 as
   `require_admin` answers. The route keeps its own `require_admin`; a test checks that the
   two sets agree (tests/security/test_guard_units.py).
3. **CSRF**: a POST/PUT/PATCH/DELETE not authorized by `Authorization: Bearer` must carry an
   `Origin` (or, without one, a `Referer`) from an allowed origin, else 403. A browser cannot
   send that header cross-site without a CORS preflight, which StreamCore never allows, so
   Bearer requests are exempt. A request with neither header is a script or a command line
   tool (every current browser sends Origin with such requests, `null` when it hides the
   page), and is let through unless it carries the login cookie, which only browsers hold.
4. **Body size**: a Content-Length over STREAMCORE_MAX_BODY_BYTES gets 413 before anything is
   read; a streamed (chunked) body gets 413 as soon as it grows past the limit.
5. Every `/dashboard` response (pages and assets) gets the dashboard's security headers.

For a WebSocket handshake (`admit_websocket`, also called by StreamCoreApp for `/ws/events`,
which it serves ahead of the middleware chain): the Host allowlist, refused with a 403
handshake rejection; then, for a dashboard presenting its login cookie without a client key,
the session is looked up in the store and the scope marked (`_dashboard_session` in
app/routes/events.py reads the mark). Origins are not checked here: overlays open the socket
from OBS and from file:// pages with `Origin: null` or any other, and prove themselves with a
client key.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from starlette.datastructures import Headers, QueryParams
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.access import (
    DASHBOARD_SESSION_SCOPE_KEY,
    Grant,
    Refusal,
    admin_grant,
    admin_token_matches,
    bearer_token,
    session_cookie,
)
from app.deps import find_dashboard_sessions
from app.origins import HostPolicy
from app.outages import RETRY_AFTER_S
from app.routes.dashboard import SECURITY_HEADERS as DASHBOARD_HEADERS
from core.settings import Settings
from db_infrastructure import StoreUnavailable

__all__ = ["RequestGuard", "admit_websocket", "is_control_path"]

logger = logging.getLogger("streamcore")

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UNKNOWN_HOST = (
    "This server does not answer to that Host name. If it is this server's name, add it to "
    "STREAMCORE_ALLOWED_HOSTS."
)
_CROSS_SITE = (
    "Cross-site request refused: the Origin (or Referer) of this request is not this server. "
    "Scripts should send 'Authorization: Bearer <STREAMCORE_ADMIN_TOKEN>'."
)
_NO_ORIGIN = (
    "Request refused: a browser request made with the login cookie must carry an Origin or "
    "Referer header of this server."
)


class BodyTooLarge(Exception):
    """Raised into the app by the guard's `receive` once a body grows past the limit."""


#: Paths (and everything below them) of the routes guarded by AdminRequired: app/routes/
#: system.py (/system/*, /metrics, /demo/*), events.py (/keys), tokens.py (/tokens, but for
#: the OAuth callback Twitch sends the browser to) and dashboard.py (/dashboard/config).
_CONTROL_TREES = ("/system", "/keys", "/tokens", "/demo", "/channels")
_CONTROL_EXACT = frozenset({"/metrics", "/dashboard/config"})
_PUBLIC_EXACT = frozenset({"/tokens/callback"})


def route_path(scope: Scope) -> str:
    """The path the router matches: without the root path a proxy may mount the app under."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def is_control_path(path: str) -> bool:
    """True for the paths of the control surface (see `_CONTROL_TREES`)."""
    if path in _PUBLIC_EXACT:
        return False
    return path in _CONTROL_EXACT or any(
        path == tree or path.startswith(tree + "/") for tree in _CONTROL_TREES
    )


def _error(status_code: int, code: str, message: str) -> Response:
    return JSONResponse(
        {"error": code, "message": message},
        status_code=status_code,
        headers={"Connection": "close"},
    )


def _too_large(limit: int) -> Response:
    message = f"The request body is larger than {limit} bytes (STREAMCORE_MAX_BODY_BYTES)."
    return _error(413, "body_too_large", message)


def _refused(refusal: Refusal) -> Response:
    # The same body and headers as `require_admin`'s HTTPException would produce.
    headers = {**refusal.headers, "Connection": "close"}
    return JSONResponse({"detail": refusal.detail}, refusal.status_code, headers=headers)


def _with_headers(send: Send, extra: Mapping[str, str]) -> Send:
    """`send`, adding each of `extra` to the response unless the app set it already."""
    encoded = [
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()
    ]

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {bytes(name).lower() for name, _ in headers}
            headers += [(name, value) for name, value in encoded if name not in present]
            message = {**message, "headers": headers}
        await send(message)

    return sending


def _content_length(headers: Headers) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None  # none, or malformed: the server refuses that itself; counted anyway


async def admit_websocket(
    scope: Scope, receive: Receive, send: Send, settings: Settings, hosts: HostPolicy | None = None
) -> bool:
    """Check a WebSocket handshake (see the module docstring); False when it was refused."""
    hosts = hosts or HostPolicy(settings)
    if not hosts.host_allowed(Headers(scope=scope).get("host")):
        await receive()  # websocket.connect
        body = json.dumps({"error": "unknown_host", "message": _UNKNOWN_HOST}).encode()
        if "websocket.http.response" in scope.get("extensions", {}):
            start = {"type": "websocket.http.response.start", "status": 403}
            await send({**start, "headers": [(b"content-type", b"application/json")]})
            await send({"type": "websocket.http.response.body", "body": body})
        else:  # a close before accept: the server answers the handshake with 403
            await send({"type": "websocket.close", "code": 1008, "reason": "unknown host"})
        return False
    cookie = session_cookie(scope)
    keyless = not QueryParams(scope.get("query_string", b"")).get("key")
    if settings.streamcore_admin_token is not None and cookie is not None and keyless:
        sessions = find_dashboard_sessions(HTTPConnection(scope))
        try:
            if sessions is not None and await sessions.check(cookie):
                scope[DASHBOARD_SESSION_SCOPE_KEY] = True
        except StoreUnavailable as error:  # unmarked: the socket is treated as keyless
            logger.warning("Could not check a dashboard session: %s", error)
    return True


class RequestGuard:
    """The middleware (see the module docstring). `create_app` adds it with the settings."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.hosts = HostPolicy(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            if await admit_websocket(scope, receive, send, self.settings, self.hosts):
                await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        if path == "/dashboard" or path.startswith("/dashboard/"):
            send = _with_headers(send, DASHBOARD_HEADERS)
        refusal = await self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self._limit_body(scope, receive, send)

    async def _refusal(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        if not self.hosts.host_allowed(headers.get("host")):
            return _error(400, "unknown_host", _UNKNOWN_HOST)
        grant: Grant | None = None
        if is_control_path(route_path(scope)):
            sessions = find_dashboard_sessions(HTTPConnection(scope))
            try:
                verdict = await admin_grant(scope, self.settings, sessions)
            except StoreUnavailable as error:  # as app/outages.py answers it inside the app
                logger.warning("%s %s answered 503: %s", scope["method"], scope["path"], error)
                return JSONResponse(
                    {"error": "backend_unavailable", "message": str(error)},
                    status_code=503,
                    headers={"Retry-After": str(RETRY_AFTER_S), "Connection": "close"},
                )
            if isinstance(verdict, Refusal):
                return _refused(verdict)
            grant = verdict
        if scope["method"] in UNSAFE_METHODS:
            problem = self._cross_site(scope, headers, grant)
            if problem is not None:
                return _error(403, "cross_site_request", problem)
        return None

    def _cross_site(self, scope: Scope, headers: Headers, grant: Grant | None) -> str | None:
        """Why this state-changing request may be forged by another site, or None."""
        if grant is Grant.BEARER or admin_token_matches(self.settings, bearer_token(scope)):
            return None
        source = headers.get("origin") or headers.get("referer")
        if source is None:
            if self.settings.streamcore_admin_token is not None and session_cookie(scope):
                return _NO_ORIGIN
            return None  # not a browser (see the module docstring)
        if self.hosts.origin_allowed(source, scope["scheme"], headers.get("host")):
            return None
        return _CROSS_SITE

    async def _limit_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.settings.streamcore_max_body_bytes
        length = _content_length(Headers(scope=scope))
        if length is not None and length > limit:
            await _too_large(limit)(scope, receive, send)
            return
        received = 0
        overflow = False
        started = False

        async def counting() -> Message:
            nonlocal received, overflow
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    overflow = True
                    raise BodyTooLarge
            return message

        async def tracking(message: Message) -> None:
            nonlocal started
            if overflow:
                return  # the app's answer to the failed read (FastAPI: 400) gives way to 413
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting, tracking)
        except BodyTooLarge:
            pass
        except ExceptionGroup as group:
            if group.split(BodyTooLarge)[1] is not None:
                raise
        # A response already under way cannot become a 413; ending here makes the server
        # close the connection (no route streams its answer while it still reads the body).
        if overflow and not started:
            await _too_large(limit)(scope, receive, send)
