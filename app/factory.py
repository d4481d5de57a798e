"""Builds StreamCore's ASGI application.

`create_app(settings)` builds the app and mounts every router; the lifespan opens the services
(`app.services.open_services`), which own every long-lived task, so nothing runs that the
lifespan does not close.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.callers import CallLimits
from app.deps import find_services
from app.guards import RequestGuard, admit_websocket
from app.instance import runtime_file
from app.outages import answer_outages_with_503
from app.routes.actions import router as actions_router
from app.routes.channels import router as channels_router
from app.routes.dashboard import ASSETS_DIR as DASHBOARD_ASSETS
from app.routes.dashboard import router as dashboard_router
from app.routes.events import EVENTS_SOCKET_PATH, events_socket
from app.routes.events import router as events_router
from app.routes.system import demo_router, metrics_router
from app.routes.system import router as system_router
from app.routes.tokens import router as tokens_router
from app.services import open_services
from app.system import VERSION
from app.webhook import WebhookReceiver
from core.errors import ConfigError, StreamCoreError
from core.logging import add_secret, skip_access_lines
from core.settings import Settings, load_settings
from tokens.errors import AuthRequired
from worker_runtime.toolkit import worker_environment

logger = logging.getLogger("streamcore")
#: The project root, where static/ (browser kit) and overlays/ live.
_ROOT = Path(__file__).resolve().parent.parent


class OneLineStartupErrors:
    """Report a StreamCoreError raised at start-up as its one-line message, not a traceback.

    Starlette sends the formatted traceback with `lifespan.startup.failed`, and uvicorn logs it.
    Our errors already say what is wrong and how to fix it, so the traceback only hides that.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_one_line(message: Message) -> None:
            error = getattr(scope["app"].state, "startup_error", None)
            if message["type"] == "lifespan.startup.failed" and error:
                message = {**message, "message": error}
            await send(message)

        await self.app(scope, receive, send_one_line)


class StreamCoreApp(FastAPI):
    """The FastAPI app, with `WS /ws/events` served in front of its middleware chain.

    Every layer of the stack (error and exception middleware, FastAPI's telemetry, body-limit
    and exit-stack layers, routers, the route wrapper) keeps a suspended coroutine frame for as
    long as a connection lives. That is brief for HTTP, but an overlay stays connected for
    hours, and with 1000 of them the chain cost ~7.5 KB of RSS per client (measured: 22.9 ->
    15.5 KB per idle client). None of those layers does anything for this socket, and
    `events_socket` handles its own errors and closes, so the scope goes straight to it.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        webhook: WebhookReceiver | None = self.state.webhook_receiver
        if webhook is not None and scope["type"] == "http" and scope["path"] == webhook.path:
            scope["app"] = self
            await webhook(scope, receive, send)
            return
        if scope["type"] == "websocket" and scope["path"] == EVENTS_SOCKET_PATH:
            scope["app"] = self  # events_socket finds the services on the app, as in Starlette
            # The request guard's handshake check (Host allowlist, dashboard session), which
            # the middleware chain would apply; it returns before the socket's life begins.
            if await admit_websocket(scope, receive, send, self.state.settings):
                await events_socket(WebSocket(scope, receive, send))
            return
        await super().__call__(scope, receive, send)


def _register_secrets(settings: Settings) -> None:
    for secret in (
        settings.twitch_client_secret,
        settings.streamcore_admin_token,
        settings.token_encryption_key,
        settings.twitch_eventsub_secret,
    ):
        if secret is not None:
            add_secret(secret.get_secret_value())


def _refuse_open_control_surface(settings: Settings) -> None:
    """Listening beyond loopback without an admin token would hand the channel to anyone."""
    if not settings.listens_beyond_loopback or settings.streamcore_admin_token is not None:
        return
    if settings.streamcore_allow_insecure:
        logger.warning(
            "Listening on %s without STREAMCORE_ADMIN_TOKEN: anyone who can reach this port can "
            "start, stop and reconfigure StreamCore (STREAMCORE_ALLOW_INSECURE=true)",
            settings.streamcore_host,
        )
        return
    raise ConfigError(
        f"Refusing to listen on {settings.streamcore_host} without STREAMCORE_ADMIN_TOKEN: set "
        "STREAMCORE_ADMIN_TOKEN (16+ characters), listen on 127.0.0.1, or set "
        "STREAMCORE_ALLOW_INSECURE=true to accept the risk"
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the services (`open_services`) for as long as the server runs."""
    settings: Settings = app.state.settings
    try:
        _refuse_open_control_surface(settings)
        # The workers' own WORKER_* settings, read once, here at the edge.
        environ = worker_environment(os.environ, Path(".env"))
        async with open_services(settings, worker_environ=environ) as services:
            app.state.services = services
            if settings.streamcore_autostart:
                try:
                    await services.system.start()
                except AuthRequired:
                    logger.warning("STREAMCORE_AUTOSTART: not started, authorization is needed")
            # `streamcore status` and `keys` find this server by it (app/instance.py).
            with runtime_file(app, settings.streamcore_data_dir):
                yield
    except StreamCoreError as error:
        # Start-up errors only: once serving, the lifespan's body is just the yield.
        app.state.startup_error = str(error)
        raise


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app. Settings are read here, once, unless the caller passes them."""
    if settings is None:
        settings = load_settings()
    _register_secrets(settings)
    app = StreamCoreApp(title="StreamCore", version=VERSION, lifespan=lifespan)
    app.state.settings = settings
    # The webhook callback, served ahead of the middleware chain (app/webhook.py says why).
    receives_webhooks = settings.receives_webhooks
    app.state.webhook_receiver = WebhookReceiver(settings) if receives_webhooks else None
    if receives_webhooks:
        skip_access_lines(settings.streamcore_eventsub_callback_path)
    app.add_middleware(OneLineStartupErrors)
    answer_outages_with_503(app)
    # Outermost of ours: Host, admin and Origin checks and the body limit come before any
    # route reads a byte of the body (app/guards.py).
    app.add_middleware(RequestGuard, settings=settings)
    # -- routes: every router lives in app/routes/ and reaches the parts through app/deps.py.
    app.include_router(events_router)
    app.mount("/static", StaticFiles(directory=_ROOT / "static"), name="static")
    app.mount("/overlays", StaticFiles(directory=_ROOT / "overlays", html=True), name="overlays")
    app.include_router(tokens_router)
    app.include_router(channels_router)
    app.include_router(actions_router)
    app.state.call_limits = CallLimits(settings.actions_call_rate, settings.actions_call_burst)
    app.include_router(system_router)
    app.include_router(demo_router)
    app.include_router(metrics_router)
    app.include_router(dashboard_router)
    app.mount("/dashboard/assets", StaticFiles(directory=DASHBOARD_ASSETS), name="dashboard")

    @app.get("/", summary="Health")
    async def health(request: Request) -> dict[str, Any]:
        services = find_services(request)
        running = bool(services and services.system.running)
        return {"status": "StreamCore Online", "running": running}

    return app
