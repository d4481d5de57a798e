"""Who may use the control surface: admin token, loopback-only default, refusal at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.factory import create_app
from core.settings import Settings

ADMIN_TOKEN = "s3cret-admin-token-0123456789"
#: The address remote clients reach; an allowed host name, as a LAN address would be configured.
REMOTE_HOST = "198.51.100.2"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, streamcore_data_dir=tmp_path, streamcore_allowed_hosts=REMOTE_HOST
    )


@pytest.fixture
async def app_with_admin(tmp_path: Path) -> AsyncIterator[FastAPI]:
    app = create_app(
        Settings(  # type: ignore[call-arg]
            _env_file=None,
            streamcore_data_dir=tmp_path,
            streamcore_admin_token=SecretStr(ADMIN_TOKEN),
            streamcore_allowed_hosts=REMOTE_HOST,
        )
    )
    async with app.router.lifespan_context(app):
        yield app


def client(app: FastAPI, remote: bool = False, **kwargs: object) -> httpx.AsyncClient:
    if remote:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        return httpx.AsyncClient(transport=transport, base_url=f"http://{REMOTE_HOST}", **kwargs)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", **kwargs)  # type: ignore[arg-type]


async def test_without_admin_token_local_requests_are_served(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app), client(app) as api:
        response = await api.get("/system/status")
    assert response.status_code == 200
    assert response.json()["running"] is False


@pytest.mark.parametrize(
    "headers", [{}, {"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}]
)
async def test_without_admin_token_remote_or_proxied_requests_are_refused(
    settings: Settings, headers: dict[str, str]
) -> None:
    app = create_app(settings)
    remote = not headers
    async with app.router.lifespan_context(app), client(app, remote=remote) as api:
        response = await api.post("/system/start", headers=headers)
        tokens = await api.get("/tokens/link", headers=headers)
    assert response.status_code == 403
    assert "STREAMCORE_ADMIN_TOKEN" in response.json()["detail"]
    assert tokens.status_code == 403


async def test_admin_token_is_required_even_locally_once_set(app_with_admin: FastAPI) -> None:
    async with client(app_with_admin) as api:
        missing = await api.get("/system/status")
        wrong = await api.get("/system/status", headers={"Authorization": "Bearer nope"})
        right = await api.get("/system/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert ADMIN_TOKEN not in wrong.text
    assert right.status_code == 200


async def test_admin_token_works_from_beyond_loopback(app_with_admin: FastAPI) -> None:
    async with client(app_with_admin, remote=True) as api:
        response = await api.get(
            "/system/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
    assert response.status_code == 200


async def test_callback_and_health_stay_open(app_with_admin: FastAPI) -> None:
    async with client(app_with_admin, remote=True) as api:
        health = await api.get("/")
        callback = await api.get("/tokens/callback", params={"state": "x", "code": "y"})
    assert health.status_code == 200
    assert callback.status_code == 400  # checked for its state, not for the admin token


async def test_listening_beyond_loopback_without_admin_token_is_refused(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, streamcore_data_dir=tmp_path, streamcore_host="0.0.0.0"
    )
    app = create_app(settings)
    with pytest.raises(Exception, match="STREAMCORE_ADMIN_TOKEN"):
        async with app.router.lifespan_context(app):
            pass
    assert "Refusing to listen on 0.0.0.0" in app.state.startup_error


async def test_explicit_opt_out_allows_it_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        streamcore_data_dir=tmp_path,
        streamcore_host="0.0.0.0",
        streamcore_allow_insecure=True,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass
    assert any("without STREAMCORE_ADMIN_TOKEN" in r.getMessage() for r in caplog.records)
