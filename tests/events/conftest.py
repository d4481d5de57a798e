"""Fixtures for the fan-out tests: a real StreamCore (uvicorn) on Redis, and WebSocket helpers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from app.factory import create_app
from app.services import Services
from core.settings import load_settings
from events.publisher import EventPublisher
from tests.conftest import free_port
from tests.polling import eventually


@dataclass
class Server:
    """A running StreamCore: its URLs, app and runtime."""

    app: FastAPI
    port: int

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/ws/events" + (f"?{query}" if query else "")

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    @property
    def publisher(self) -> EventPublisher:
        return EventPublisher(self.services.bus)

    def connected(self) -> int:
        broadcaster = self.services.broadcaster
        assert broadcaster is not None
        return broadcaster.connected_clients()


async def receive_json(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:  # noqa: ASYNC109
    value: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return value


@asynccontextmanager
async def run_streamcore(
    tmp_path: Path, redis_url: str, port: int | None = None, **overrides: Any
) -> AsyncIterator[Server]:
    """StreamCore served by uvicorn on a loopback port, its broadcaster subscribed."""
    settings = load_settings(redis_url=redis_url, streamcore_data_dir=str(tmp_path), **overrides)
    app = create_app(settings)
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started or task.done(), within_s=20, what="uvicorn started")
        if task.done():
            task.result()
        handle = Server(app, port)
        broadcaster = handle.services.broadcaster
        assert broadcaster is not None
        await asyncio.wait_for(broadcaster.ready.wait(), 10)
        yield handle
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


@pytest.fixture
async def streamcore(tmp_path: Path, redis_url: str) -> AsyncIterator[Server]:
    async with run_streamcore(tmp_path, redis_url) as server:
        yield server


Connect = Callable[..., Awaitable[ClientConnection]]


@pytest.fixture
async def ws_connect() -> AsyncIterator[Connect]:
    """Open WebSocket clients that are closed after the test."""
    opened: list[ClientConnection] = []

    async def open_client(url: str, **options: Any) -> ClientConnection:
        ws = await connect(url, open_timeout=10, **options)
        opened.append(ws)
        return ws

    yield open_client
    for ws in opened:
        await ws.close()
