"""Builds StreamCore's ASGI application.

`create_app(settings)` builds the app; the lifespan opens the bus and the store and owns every
long-lived task, so nothing runs that the lifespan does not close.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bus import create_bus
from core.errors import StreamCoreError
from core.logging import add_secret
from core.runtime import Runtime
from core.settings import Settings, load_settings
from core.tasks import TaskSupervisor
from store import create_store

logger = logging.getLogger("streamcore")


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


def _register_secrets(settings: Settings) -> None:
    for secret in (
        settings.twitch_client_secret,
        settings.streamcore_admin_token,
        settings.token_encryption_key,
    ):
        if secret is not None:
            add_secret(secret.get_secret_value())


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    bus = create_bus(settings.redis_dsn)
    store = create_store(settings)
    async with AsyncExitStack() as stack:
        try:
            await bus.connect()
            stack.push_async_callback(bus.close)
            await store.connect()
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
    app = FastAPI(title="StreamCore", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.add_middleware(OneLineStartupErrors)
    # -- routers: each part mounts its own APIRouter here.

    @app.get("/", summary="Health")
    async def health(request: Request) -> dict[str, Any]:
        runtime = getattr(request.app.state, "runtime", None)
        return {"status": "StreamCore Online", "running": bool(runtime and runtime.running)}

    return app
