"""Shared fixtures: real Redis and PostgreSQL, headless Chromium, and the fast/slow split.

Redis tests use database REDIS_TEST_DB (default 15) on 127.0.0.1:6379, flushed before and
after each test. PostgreSQL tests get a fresh schema in database `test`, dropped afterwards.
Browser tests drive the Chromium at CHROMIUM_PATH (default /usr/bin/chromium). When a service
or the browser is missing the test skips locally and fails when CI is set, so a green CI always
means the real services and the real browser were exercised.

Markers are set centrally (`pytest_collection_modifyitems` below): a test that uses a service
fixture (SLOW_FIXTURES) or the real-service variant of a backend contract (SLOW_PARAMS) is
`slow`, one that uses `browser` is also `browser`. Modules that start servers or subprocesses
without such a fixture say `pytestmark = pytest.mark.slow` themselves. `pytest -m "not slow"`
runs the pure and in-process layer; plain `pytest` runs everything.

Waiting for something is always `tests.polling.eventually`; raw WebSocket frames are read with
`tests.rawws.RawClient`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import NoReturn

import asyncpg
import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, async_playwright

from bus import Bus
from bus.memory import MemoryBus
from bus.redis import RedisBus
from db_infrastructure.base import Store
from db_infrastructure.postgres import PostgresStore
from db_infrastructure.sqlite import SQLiteStore

REDIS_TEST_DB = int(os.environ.get("REDIS_TEST_DB", "15"))
#: A whole URL overrides the default, e.g. a private redis-server for a parallel run.
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", f"redis://127.0.0.1:6379/{REDIS_TEST_DB}")
POSTGRES_TEST_DSN = os.environ.get("POSTGRES_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/test")
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

#: Fixtures that reach real Redis or PostgreSQL, serve on a port, start a subprocess or drive
#: the browser: a test using any of them (directly or through another fixture) is `slow`.
SLOW_FIXTURES = frozenset(
    {
        "redis_url",  # real Redis (tests/conftest.py)
        "postgres_dsn_and_schema",  # real PostgreSQL (tests/conftest.py)
        "redis_server",  # a private redis-server subprocess (tests/redis_server.py)
        "simulator",  # the Twitch simulator on a port (tests/conftest.py)
        "sim",  # the same, with test timers (tests/gateway, tests/tokens)
        "device_sim",  # the same, for the device flow (tests/tokens/test_device_flow.py)
        "streamcore",  # StreamCore under uvicorn (tests/events, tests/dashboard)
        "embedded_streamcore",  # the same on the in-process bus (tests/dashboard)
        "demo",  # StreamCore and the simulator in demo mode (tests/dashboard)
        "demo_command",  # `streamcore demo` as a subprocess (tests/dashboard)
        "deployment",  # simulator, Redis and PostgreSQL together (tests/system)
        "served",  # `streamcore run` subprocesses (tests/foundation/test_cli_run.py)
        "chromium_path",  # headless Chromium (the `browser` fixture below)
    }
)
#: Backend contracts run once per backend: these parameter values are the real services.
#: The in-process variants (memory bus, SQLite store) stay in the fast layer.
SLOW_PARAMS = {"bus": "redis", "store": "postgresql"}


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def unavailable(
    service: str, error: BaseException | str, fix: str = "start it (see .ci/run)"
) -> NoReturn:
    """Fail under CI, skip locally, always naming the service, the reason and the fix."""
    message = f"{service} is unavailable ({error}); {fix}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, give every worker but the first a redis-server of its own.

    Redis databases isolate keys and streams but not pub/sub channels, which are global: two
    workers on one server would receive each other's events. The first worker keeps
    REDIS_TEST_URL (CI's Redis); the others each start a private real redis-server on a free
    port, stopped when the worker ends.
    """
    global REDIS_TEST_URL
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    if worker == "gw0" or shutil.which("redis-server") is None:
        return
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def stop_server() -> None:
        server.kill()
        server.wait()

    config.add_cleanup(stop_server)
    for _ in range(200):  # up to ~10 s
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    REDIS_TEST_URL = f"redis://127.0.0.1:{port}/{REDIS_TEST_DB}"
    os.environ["REDIS_TEST_URL"] = REDIS_TEST_URL


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by these markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `slow` and `browser` tests by the fixtures and backend parameters they use."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
        if fixtures & SLOW_FIXTURES or any(
            name in params and params[name] == value for name, value in SLOW_PARAMS.items()
        ):
            item.add_marker(pytest.mark.slow)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def clean_redis_db() -> AsyncIterator[str]:
    """Yield REDIS_TEST_URL with its database flushed before and after."""
    client = aioredis.Redis.from_url(REDIS_TEST_URL)
    try:
        await client.flushdb()
    except Exception as error:  # any failure to reach Redis
        await client.aclose()
        unavailable(f"Redis at {REDIS_TEST_URL}", error)
    try:
        yield REDIS_TEST_URL
    finally:
        await client.flushdb()
        await client.aclose()


@asynccontextmanager
async def fresh_postgres_schema() -> AsyncIterator[tuple[str, str]]:
    """Yield (dsn, schema) for a schema that is dropped afterwards."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    try:
        connection = await asyncpg.connect(POSTGRES_TEST_DSN, timeout=5)
    except Exception as error:
        unavailable("PostgreSQL at 127.0.0.1:5432", error)
    try:
        yield POSTGRES_TEST_DSN, schema
    finally:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """A clean Redis database for this test."""
    async with clean_redis_db() as url:
        yield url


@pytest.fixture
async def postgres_dsn_and_schema() -> AsyncIterator[tuple[str, str]]:
    """A PostgreSQL DSN and a fresh schema for this test."""
    async with fresh_postgres_schema() as pair:
        yield pair


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    """The bus contract runs against every backend."""
    async with AsyncExitStack() as stack:
        if request.param == "memory":
            backend: Bus = MemoryBus()
        else:
            backend = RedisBus(await stack.enter_async_context(clean_redis_db()))
        await backend.connect()
        stack.push_async_callback(backend.close)
        yield backend


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """The store contract runs against every backend."""
    async with AsyncExitStack() as stack:
        if request.param == "sqlite":
            backend: Store = SQLiteStore(tmp_path / "streamcore.db")
        else:
            dsn, schema = await stack.enter_async_context(fresh_postgres_schema())
            backend = PostgresStore(dsn, schema=schema)
        await backend.connect()
        stack.push_async_callback(backend.close)
        yield backend


@pytest.fixture
async def simulator() -> AsyncIterator[object]:
    """A fresh Twitch simulator on a free port (`simulator.testing.run_simulator()` entered)."""
    from simulator.testing import run_simulator

    async with run_simulator() as sim:
        yield sim


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium executable the browser tests drive (never downloaded by Playwright)."""
    if not (os.path.isfile(CHROMIUM_PATH) and os.access(CHROMIUM_PATH, os.X_OK)):
        unavailable(
            f"Chromium at {CHROMIUM_PATH}",
            "not installed",
            "install it (apt-get install chromium, see .ci/run) or set CHROMIUM_PATH",
        )
    return CHROMIUM_PATH


@pytest.fixture
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    """Headless Chromium for one test, closed afterwards."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


# A private, restartable redis-server per test (tests/redis_server.py).
from tests.redis_server import redis_server  # noqa: E402, F401
