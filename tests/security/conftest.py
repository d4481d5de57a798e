"""Helpers for the hardening tests: the app in-process (httpx's ASGI transport) and a counting
request body that shows how much of it the server actually read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from app.factory import create_app
from core.settings import Settings

ADMIN_TOKEN = "security-admin-token-0123456789"
LOCAL = "http://127.0.0.1"
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: A client and server address beyond loopback.
REMOTE_CLIENT = ("203.0.113.7", 50000)
MIB = 1024 * 1024


@asynccontextmanager
async def serving(tmp_path: Path, **overrides: Any) -> AsyncIterator[FastAPI]:
    """The app with its lifespan entered (in-process bus, SQLite in tmp_path, no .env)."""
    settings = Settings(_env_file=None, streamcore_data_dir=tmp_path, **overrides)  # type: ignore[call-arg]
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def http(
    app: FastAPI, base_url: str = LOCAL, client: tuple[str, int] = ("127.0.0.1", 123)
) -> httpx.AsyncClient:
    """A client for `app`; `client` is the peer address the app sees."""
    transport = httpx.ASGITransport(app=app, client=client)
    return httpx.AsyncClient(transport=transport, base_url=base_url)


class CountingBody:
    """A request body streamed in chunks, counting the bytes the server pulled."""

    def __init__(self, total: int, chunk: int = 64 * 1024) -> None:
        self.total = total
        self.chunk = chunk
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            size = min(self.chunk, self.total - self.sent)
            self.sent += size
            yield b"x" * size


async def log_in(api: httpx.AsyncClient, origin: str = LOCAL) -> str:
    """Log in through the form as a browser would; returns the login cookie's value."""
    response = await api.post(
        "/dashboard/login", data={"token": ADMIN_TOKEN}, headers={"Origin": origin}
    )
    assert response.status_code == 303, response.text
    cookie = response.cookies.get("streamcore_admin")
    assert cookie
    return cookie
