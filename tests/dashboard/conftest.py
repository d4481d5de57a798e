"""Fixtures for the dashboard tests: the app in-process (HTTP) and served by uvicorn.

Headless Chromium (the `browser` fixture) is shared by every browser test: tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.factory import create_app
from core.settings import load_settings
from tests.events.conftest import Server, run_streamcore

ADMIN_TOKEN = "dashboard-admin-token-0123456789"
LOCAL = "http://127.0.0.1"
#: A request from elsewhere: the client and the address it reached are not loopback.
REMOTE_CLIENT = ("203.0.113.7", 50000)
REMOTE_HOST = "198.51.100.2"
REMOTE = f"http://{REMOTE_HOST}"
#: An empty REDIS_URL selects the in-process bus. Tests that read the live feed use it: Redis
#: pub/sub ignores the database number, so on a shared Redis the feed would also show events
#: that other test runs publish (REDIS_TEST_DB isolates streams and keys, not channels).
EMBEDDED_BUS = ""


@asynccontextmanager
async def running_app(tmp_path: Path, **overrides: Any) -> AsyncIterator[FastAPI]:
    """The app with its lifespan entered (in-memory bus, SQLite in tmp_path). The remote
    client's Host (REMOTE) is an allowed host name, as a LAN address would be configured."""
    overrides.setdefault("streamcore_allowed_hosts", REMOTE_HOST)
    app = create_app(load_settings(streamcore_data_dir=str(tmp_path), **overrides))
    async with app.router.lifespan_context(app):
        yield app


def client_for(app: FastAPI, remote: bool = False) -> httpx.AsyncClient:
    """An HTTP client talking to `app` in-process, as a local or a remote browser: like the
    dashboard page's own requests, it sends its origin (the CSRF check asks for it)."""
    if remote:
        transport = httpx.ASGITransport(app=app, client=REMOTE_CLIENT)
        return httpx.AsyncClient(transport=transport, base_url=REMOTE, headers={"Origin": REMOTE})
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url=LOCAL, headers={"Origin": LOCAL})


@pytest.fixture
async def streamcore(tmp_path: Path, redis_url: str) -> AsyncIterator[Server]:
    """StreamCore served by uvicorn on a loopback port, on Redis (see tests/events/conftest.py)."""
    async with run_streamcore(tmp_path, redis_url) as server:
        yield server


@pytest.fixture
async def embedded_streamcore(tmp_path: Path) -> AsyncIterator[Server]:
    """StreamCore served by uvicorn, on the in-process bus (for tests reading the live feed)."""
    async with run_streamcore(tmp_path, EMBEDDED_BUS) as server:
        yield server
