"""Fixtures for the tokens tests: the simulator, settings pointing at it, a counted HTTP client.

Requests are counted with an httpx event hook on the client StreamCore uses, so a test can say
"exactly one token request" without reaching into the simulator.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI

from app.deps import get_tasks, get_tokens
from app.routes.tokens import router
from bus.base import Bus
from bus.memory import MemoryBus
from core.settings import Settings
from core.tasks import TaskSupervisor
from db_infrastructure.base import Store
from tokens.manager import TokenManager
from tokens.model import TokenSet
from tokens.vault import TokenVault

TEST_KEY = Fernet.generate_key().decode()


class RequestLog:
    """Every request an httpx client sent, as (method, path)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.requests.append((request.method, request.url.path))

    def count(self, path_suffix: str) -> int:
        return sum(path.endswith(path_suffix) for _, path in self.requests)

    def __len__(self) -> int:
        return len(self.requests)


class ManualSleep:
    """An injectable `sleep`: records each requested duration and returns only when the test
    calls `tick()`, so an hourly loop runs one round per tick."""

    def __init__(self) -> None:
        self.requested: list[float] = []
        self._ticks: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, seconds: float) -> None:
        self.requested.append(seconds)
        await self._ticks.get()

    def tick(self) -> None:
        self._ticks.put_nowait(None)


class Clock:
    """A Unix clock a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    from simulator.testing import run_simulator

    async with run_simulator() as simulator:
        yield simulator


@pytest.fixture
def request_log() -> RequestLog:
    return RequestLog()


@pytest.fixture
async def http(request_log: RequestLog) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10, event_hooks={"request": [request_log]}) as client:
        yield client


@pytest.fixture
async def memory_bus() -> AsyncIterator[Bus]:
    bus = MemoryBus()
    await bus.connect()
    yield bus
    await bus.close()


def settings_for(sim: Any, tmp_path: Any, **overrides: Any) -> Settings:
    """Settings pointing StreamCore at the simulator, isolated from the environment and .env."""
    values: dict[str, Any] = {
        "_env_file": None,
        "twitch_client_id": sim.client_id,
        "twitch_client_secret": sim.client_secret,
        "twitch_redirect_uri": sim.redirect_uri,
        "twitch_auth_url": sim.auth_url,
        "twitch_api_url": sim.api_url,
        "streamcore_data_dir": tmp_path,
        "token_encryption_key": TEST_KEY,
        "redis_url": None,
        "database_url": None,
        "postgres_host": None,
    }
    values.update(overrides)
    return Settings(**values)


async def control(sim: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST to the simulator's control API."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"{sim.http_url}/control/{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else {}


async def seed_token(
    sim: Any,
    store: Store,
    scopes: list[str],
    user: str = "broadcaster",
    expires_at: float | None = None,
) -> TokenSet:
    """Store a token the simulator minted for `user`, as a completed authorization would."""
    grant = await sim.issue_token(user=user, scopes=scopes)
    sim_user = sim.users[user]
    token = TokenSet(
        access_token=grant["access_token"],
        refresh_token=grant["refresh_token"],
        expires_at=time.time() + grant["expires_in"] if expires_at is None else expires_at,
        scopes=sorted(grant["scope"]),
        user_id=sim_user.id,
        login=sim_user.login,
    )
    await TokenVault(store, Fernet(TEST_KEY.encode())).save(token)
    return token


async def stored_token(store: Store) -> TokenSet | None:
    return await TokenVault(store, Fernet(TEST_KEY.encode())).load()


def make_manager(
    settings: Settings,
    store: Store,
    bus: Bus,
    http: httpx.AsyncClient,
    scopes: list[str] | None = None,
    **options: Any,
) -> TokenManager:
    required = list(scopes or [])
    return TokenManager(settings, store, bus, http, lambda: required, **options)


@asynccontextmanager
async def api_client(
    manager: TokenManager, settings: Settings, store: Store, bus: Bus, http: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """StreamCore's token routes served in-process, with this manager behind `TokensDep`."""
    app = FastAPI()
    app.include_router(router)
    app.state.settings = settings
    async with TaskSupervisor() as tasks:
        app.dependency_overrides[get_tokens] = lambda: manager
        app.dependency_overrides[get_tasks] = lambda: tasks
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            yield client
