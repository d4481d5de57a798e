"""Start-up behaviour: waiting for services with progress, autostart, JSON logs."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from app.factory import create_app
from core.logging import configure_logging
from core.settings import Settings
from tests.conftest import free_port


@pytest.mark.slow  # starts redis-server as a subprocess, after a pause
async def test_startup_waits_for_redis_with_progress(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        streamcore_data_dir=tmp_path,
        redis_url=SecretStr(f"redis://127.0.0.1:{port}/0"),
        streamcore_startup_wait_s=20,
    )
    app = create_app(settings)

    async def start_redis_later() -> asyncio.subprocess.Process:
        await asyncio.sleep(1.5)
        arguments = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        return await asyncio.create_subprocess_exec(
            "redis-server", *arguments, stdout=subprocess.DEVNULL
        )

    caplog.set_level(logging.INFO, "streamcore")
    later = asyncio.create_task(start_redis_later())
    try:
        async with app.router.lifespan_context(app):
            assert app.state.services.bus.name == "redis"
    finally:
        redis = await later
        redis.terminate()
        await redis.wait()
    waiting = [r.getMessage() for r in caplog.records if "Waiting for Redis" in r.getMessage()]
    assert waiting and "attempt 1" in waiting[0]


@pytest.mark.slow  # the simulator serves on a port
async def test_autostart_starts_the_system_when_the_token_is_valid(tmp_path: Path) -> None:
    from simulator.testing import run_simulator

    callback = "http://127.0.0.1/tokens/callback"
    async with run_simulator(redirect_uri=callback) as sim:
        env = sim.env()
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            streamcore_data_dir=tmp_path,
            twitch_client_id=env["TWITCH_CLIENT_ID"],
            twitch_client_secret=SecretStr(env["TWITCH_CLIENT_SECRET"]),
            twitch_auth_url=env["TWITCH_AUTH_URL"],
            twitch_api_url=env["TWITCH_API_URL"],
            twitch_eventsub_ws_url=env["TWITCH_EVENTSUB_WS_URL"],
            twitch_redirect_uri=callback,
            streamcore_autostart=True,
        )
        # No token yet: autostart leaves the system stopped (and logs the link).
        first = create_app(settings)
        async with first.router.lifespan_context(first):
            assert first.state.services.system.running is False
            transport = httpx.ASGITransport(app=first)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as api:
                link = (await api.get("/tokens/link")).json()["auth_url"]
                async with httpx.AsyncClient() as browser:
                    approval = await browser.get(link, follow_redirects=False)
                query = httpx.URL(approval.headers["location"]).query.decode()
                assert (await api.get(f"/tokens/callback?{query}")).status_code == 200
        # The stored token is valid: the next boot starts the system by itself.
        second = create_app(settings)
        async with second.router.lifespan_context(second):
            assert second.state.services.system.running is True


def test_json_log_format_writes_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        logging.getLogger("streamcore.test").info("hello %s", "world")
    finally:
        configure_logging("INFO", "text")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    entry = json.loads(line)
    assert entry["message"] == "hello world"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "streamcore.test"
