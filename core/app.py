"""Builds StreamCore's ASGI application.

`create_app(settings)` builds the app; the lifespan opens the bus and the store and owns every
long-lived task, so nothing runs that the lifespan does not close.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request, WebSocket
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bus import create_bus
from core.dashboard_api import ASSETS_DIR as DASHBOARD_ASSETS
from core.dashboard_api import router as dashboard_router
from core.errors import BackendUnavailable, ConfigError, StreamCoreError
from core.logging import add_secret
from core.runtime import Runtime
from core.settings import Settings, load_settings
from core.system import System
from core.system_api import demo_router, metrics_router
from core.system_api import router as system_router
from core.tasks import TaskSupervisor
from events.api import EVENTS_SOCKET_PATH, events_socket
from events.api import router as events_router
from events.broadcaster import Broadcaster
from events.constants import CLOSE_RESTART
from store import create_store
from tokens.api import router as tokens_router
from tokens.constants import HTTP_TIMEOUT_S
from tokens.helix import HelixClient
from tokens.manager import TokenManager
from tokens.scopes import union_scopes
from workers.registry import discover_workers
from workers.toolkit import worker_environment

logger = logging.getLogger("streamcore")
#: Pause between two connection attempts while STREAMCORE_STARTUP_WAIT_S lasts.
STARTUP_RETRY_S = 1.0
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
        if scope["type"] == "websocket" and scope["path"] == EVENTS_SOCKET_PATH:
            scope["app"] = self  # events_socket reads app.state, as Starlette would provide
            await events_socket(WebSocket(scope, receive, send))
            return
        await super().__call__(scope, receive, send)


def _register_secrets(settings: Settings) -> None:
    for secret in (
        settings.twitch_client_secret,
        settings.streamcore_admin_token,
        settings.token_encryption_key,
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


async def _connect_patiently(
    connect: Callable[[], Awaitable[None]], what: str, wait_s: float
) -> None:
    """Connect, retrying for up to `wait_s` seconds with a progress line per attempt (services
    started together, as by compose or systemd, come up in any order)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    attempt = 0
    while True:
        try:
            await connect()
            return
        except BackendUnavailable as error:
            left = deadline - loop.time()
            if left <= 0:
                raise
            attempt += 1
            logger.info("Waiting for %s (attempt %d, %.0f s left): %s", what, attempt, left, error)
            await asyncio.sleep(min(STARTUP_RETRY_S, left))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    bus = create_bus(settings.redis_dsn)
    store = create_store(settings)
    async with AsyncExitStack() as stack:
        try:
            _refuse_open_control_surface(settings)
            # Discovery imports every module in workers/ once; a duplicate name stops start-up.
            discovery = discover_workers()
            discovery.check()
            wait_s = settings.streamcore_startup_wait_s
            await _connect_patiently(bus.connect, "Redis", wait_s)
            stack.push_async_callback(bus.close)
            await _connect_patiently(store.connect, "the database", wait_s)
            stack.push_async_callback(store.close)
        except StreamCoreError as error:
            app.state.startup_error = str(error)
            raise
        if bus.name == "memory":
            logger.info(
                "Bus: in-process (embedded default; events stay inside this process). "
                "Set REDIS_URL=redis://host:6379/0 to use Redis."
            )
        else:
            logger.info("Bus: Redis")
        if store.name == "sqlite":
            logger.info(
                "Store: SQLite at %s (embedded default). Set DATABASE_URL=postgresql://... "
                "to use PostgreSQL.",
                settings.sqlite_path,
            )
        else:
            logger.info("Store: PostgreSQL")
        tasks = await stack.enter_async_context(TaskSupervisor())
        runtime = Runtime(settings=settings, bus=bus, store=store, tasks=tasks)
        app.state.runtime = runtime
        # -- components: each part builds its long-lived objects here and spawns its tasks
        # through `tasks`, so that leaving this block stops every one of them.
        # events: the fan-out of WS /ws/events runs always, independent of /system/start.
        runtime.broadcaster = Broadcaster(
            bus, settings.events_retention_count, settings.events_retention_seconds
        )
        tasks.spawn("events.broadcaster", runtime.broadcaster.run())
        tasks.spawn("events.retention", runtime.broadcaster.trim_retention())
        stack.callback(runtime.broadcaster.close_all, CLOSE_RESTART, "server restarting")
        # tokens: one HTTP client for every call to Twitch, the token manager, the Helix client.
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=HTTP_TIMEOUT_S))
        runtime.http = http
        runtime.tokens = TokenManager(
            settings,
            store,
            bus,
            http,
            lambda: union_scopes(*(w.required_scopes for w in discovery.workers)),
        )
        runtime.helix = HelixClient(settings, runtime.tokens, http)
        await runtime.tokens.start()
        tasks.spawn("tokens.validation", runtime.tokens.run_validation_loop())
        # Stop validating before the HTTP client closes (the stack unwinds last-in first-out).
        stack.push_async_callback(tasks.cancel, "tokens.validation")
        # system: gateway and workers, started by POST /system/start (or at boot with
        # STREAMCORE_AUTOSTART); stopped gracefully before the clients above close.
        runtime.system = System(runtime, discovery, worker_environment(os.environ, Path(".env")))
        stack.push_async_callback(runtime.system.stop)
        if settings.streamcore_autostart:
            status, _ = await runtime.system.start()
            if status != 200:
                logger.warning("STREAMCORE_AUTOSTART: not started, authorization is needed")
        yield


def get_runtime(request: Request) -> Runtime:
    """FastAPI dependency: the process's Runtime (use `RuntimeDep` in signatures)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app. Settings are read here, once, unless the caller passes them."""
    if settings is None:
        settings = load_settings()
    _register_secrets(settings)
    app = StreamCoreApp(title="StreamCore", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(OneLineStartupErrors)
    # -- routers: each part mounts its own APIRouter here.
    app.include_router(events_router)
    app.mount("/static", StaticFiles(directory=_ROOT / "static"), name="static")
    app.mount("/overlays", StaticFiles(directory=_ROOT / "overlays", html=True), name="overlays")
    app.include_router(tokens_router)
    app.include_router(system_router)
    app.include_router(demo_router)
    app.include_router(metrics_router)
    app.include_router(dashboard_router)
    app.mount("/dashboard/assets", StaticFiles(directory=DASHBOARD_ASSETS), name="dashboard")

    @app.get("/", summary="Health")
    async def health(request: Request) -> dict[str, Any]:
        runtime = getattr(request.app.state, "runtime", None)
        return {"status": "StreamCore Online", "running": bool(runtime and runtime.running)}

    return app
