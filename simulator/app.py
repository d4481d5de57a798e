"""The simulator's ASGI app (one port: /ws, /helix, /oauth2, /control) and its uvicorn config."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from simulator import (
    conduit_routes,
    control,
    control_channels,
    control_users,
    eventsub_ws,
    helix,
    helix_chat,
    helix_stream,
    index,
    oauth_routes,
    webhook_routes,
)
from simulator.errors import ControlError, HelixError, OAuthRefusal, SimulatorError
from simulator.state import SimulatorState
from simulator.ws_protocol import TwitchWebSocketProtocol

#: Twitch's EventSub server accepts no data frames; 64 KiB is plenty for a close frame.
WS_MAX_SIZE = 65_536


def create_app(state: SimulatorState) -> FastAPI:
    """The simulated Twitch, serving `state`; the lifespan stops its timers at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await state.aclose()

    app = FastAPI(title="StreamCore Twitch simulator", lifespan=lifespan, docs_url="/control/docs")
    app.state.simulator = state
    routers = (
        index.router,
        eventsub_ws.router,
        helix.router,
        helix_chat.router,
        helix_stream.router,
        conduit_routes.router,
        oauth_routes.router,
        control.router,
        control_users.router,
        control_channels.router,
        webhook_routes.router,
    )
    for router in routers:
        app.include_router(router)

    @app.exception_handler(HelixError)
    async def on_helix_error(request: Request, error: HelixError) -> Response:
        return helix.helix_error_response(request, error)

    @app.exception_handler(OAuthRefusal)
    async def on_oauth_error(request: Request, error: OAuthRefusal) -> Response:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(ControlError)
    async def on_control_error(request: Request, error: ControlError) -> Response:
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(SimulatorError)
    async def on_simulator_error(request: Request, error: SimulatorError) -> Response:
        return JSONResponse(ControlError(400, str(error)).body(), status_code=400)

    return app


def uvicorn_config(
    app: FastAPI, state: SimulatorState, host: str, port: int, access_log: bool = False
) -> uvicorn.Config:
    """uvicorn settings: our WebSocket protocol (4002 on a missed Pong) and its ping timers."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        ws=TwitchWebSocketProtocol,
        ws_ping_interval=state.config.ping_interval_s,
        ws_ping_timeout=state.config.ping_timeout_s,
        ws_max_size=WS_MAX_SIZE,
        log_config=None,
        access_log=access_log,
        lifespan="on",
    )
