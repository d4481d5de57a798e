"""The device code flow: from the dashboard (POST /tokens/device), from the CLI, and its
polling policy (interval, authorization_pending, slow_down)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.base import Bus
from cli.commands.auth import authorize_device
from db_infrastructure.base import Store
from db_infrastructure.sqlite import SQLiteStore
from tests.polling import eventually
from tests.tokens.conftest import api_client, make_manager, settings_for, stored_token
from tokens.device import poll_until_authorized
from tokens.errors import DeviceFlowFailed
from tokens.model import TokenGrant
from tokens.oauth import TwitchOAuth

SCOPES = ["bits:read", "user:read:chat"]


@pytest.fixture
async def device_sim() -> Any:
    from simulator.testing import run_simulator

    async with run_simulator(
        device_poll_interval_s=0.05,
        device_slow_down_step_s=0.05,
        device_auto_approve_after_polls=3,
    ) as simulator:
        yield simulator


async def test_dashboard_device_flow_polls_in_the_background_and_stores_the_token(
    device_sim: Any, store: Store, memory_bus: Bus, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    settings = settings_for(device_sim, tmp_path)
    manager = make_manager(settings, store, memory_bus, http, SCOPES)
    await manager.start()
    async with api_client(manager, settings, store, memory_bus, http) as api:
        started = await api.post("/tokens/device")
        assert started.status_code == 200
        flow = started.json()
        assert flow["user_code"] and flow["verification_uri"].startswith("http")
        assert flow["expires_in"] > 0
        assert flow["status"] == "pending"

        async def authorized() -> bool:
            answer = await api.get(f"/tokens/device/{flow['id']}")
            return bool(answer.json()["status"] == "authorized")

        await eventually(authorized, what="the device flow to finish")
        final = (await api.get(f"/tokens/device/{flow['id']}")).json()
        assert (await api.get("/tokens/device/unknown")).status_code == 404
    assert final["login"] == device_sim.users["broadcaster"].login
    assert manager.state == "ok"
    saved = await stored_token(store)
    assert saved is not None and saved.user_id == device_sim.users["broadcaster"].id
    assert sorted(saved.scopes) == SCOPES


async def test_cli_auth_prints_the_code_shows_progress_and_stores_the_token(
    device_sim: Any, tmp_path: Path
) -> None:
    settings = settings_for(device_sim, tmp_path)
    out = io.StringIO()
    login = await authorize_device(settings, SCOPES, out=out)
    assert login == device_sim.users["broadcaster"].login
    text = out.getvalue()
    assert "enter the code" in text
    assert "/activate" in text or "verification" in text or "http" in text
    assert "waiting for approval" in text
    assert f"Connected as {login}" in text
    store = SQLiteStore(settings.sqlite_path)
    await store.connect()
    try:
        saved = await stored_token(store)
    finally:
        await store.close()
    assert saved is not None and saved.login == login


async def test_polling_honours_the_interval_and_adds_five_seconds_on_slow_down(
    device_sim: Any, tmp_path: Path
) -> None:
    settings = settings_for(device_sim, tmp_path)
    requested: list[float] = []

    async def sleep(seconds: float) -> None:
        requested.append(seconds)
        # The second wait is skipped, so that poll comes too soon and Twitch says slow_down;
        # the others last long enough for the simulator's (short) interval.
        if len(requested) != 2:
            await asyncio.sleep(0.3)

    async with httpx.AsyncClient(timeout=10) as http:
        oauth = TwitchOAuth(settings, http)
        code = await oauth.start_device(SCOPES)
        grant = await poll_until_authorized(oauth, code, SCOPES, sleep=sleep)
    assert isinstance(grant, TokenGrant)
    assert requested[:2] == [code.interval, code.interval]
    assert requested[2] == pytest.approx(code.interval + 5)


async def test_a_refused_device_code_ends_polling_with_a_clear_error(tmp_path: Path) -> None:
    answers = [
        httpx.Response(
            200,
            json={
                "device_code": "dev-code-123456",
                "user_code": "ABCDEFGH",
                "verification_uri": "https://x.test/activate",
                "expires_in": 1800,
                "interval": 5,
            },
        ),
        httpx.Response(400, json={"status": 400, "message": "authorization_pending"}),
        httpx.Response(400, json={"status": 400, "message": "access_denied"}),
    ]
    from core.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, twitch_client_id="cid", twitch_auth_url="https://id.example.test/oauth2"
    )
    requested: list[float] = []

    async def sleep(seconds: float) -> None:
        requested.append(seconds)

    transport = httpx.MockTransport(lambda request: answers.pop(0))
    async with httpx.AsyncClient(transport=transport) as http:
        oauth = TwitchOAuth(settings, http)
        code = await oauth.start_device(SCOPES)
        with pytest.raises(DeviceFlowFailed) as caught:
            await poll_until_authorized(oauth, code, SCOPES, sleep=sleep)
    assert "access_denied" in str(caught.value)
    assert "start" in str(caught.value).lower()
    assert requested == [5.0, 5.0]
