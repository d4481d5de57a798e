"""Item 5: the dashboard cookie is a server-side session id, never the admin token.

Sessions are revoked on logout, rotated on login, and end after an absolute lifetime and after
an idle time (both settings, made seconds here). The store keeps only the id's SHA-256.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from app.access import ADMIN_COOKIE
from db_infrastructure import StoreUnavailable
from tests.events.conftest import receive_json, run_streamcore
from tests.polling import eventually
from tests.security.conftest import ADMIN_TOKEN, BEARER, LOCAL, http, log_in, serving


def _with_cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"{ADMIN_COOKIE}={value}"}


async def test_the_cookie_is_a_random_session_id_and_the_store_keeps_only_its_hash(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app, http(app) as api:
        login = await api.post(
            "/dashboard/login", data={"token": ADMIN_TOKEN}, headers={"Origin": LOCAL}
        )
        cookie = login.cookies[ADMIN_COOKIE]
        status = await api.get("/system/status")
        stored = await app.state.services.store.items("dashboard_sessions")
    assert cookie != ADMIN_TOKEN
    assert ADMIN_TOKEN not in login.headers["set-cookie"]
    assert len(cookie) >= 43  # secrets.token_urlsafe(32)
    set_cookie = login.headers["set-cookie"]
    assert "HttpOnly" in set_cookie
    assert "samesite=strict" in set_cookie.lower()
    assert "Path=/" in set_cookie
    assert "Max-Age=604800" in set_cookie  # the absolute lifetime, 7 days by default
    assert status.status_code == 200
    assert list(stored) == [hashlib.sha256(cookie.encode()).hexdigest()]
    assert cookie not in json.dumps(stored)


async def test_the_cookie_is_secure_over_https(tmp_path: Path) -> None:
    async with (
        serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app,
        http(app, "https://127.0.0.1") as api,
    ):
        login = await api.post(
            "/dashboard/login", data={"token": ADMIN_TOKEN}, headers={"Origin": "https://127.0.0.1"}
        )
    assert "Secure" in login.headers["set-cookie"]


async def test_the_admin_token_itself_is_no_longer_a_valid_cookie(tmp_path: Path) -> None:
    async with serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app, http(app) as api:
        status = await api.get("/system/status", headers=_with_cookie(ADMIN_TOKEN))
        page = await api.get("/dashboard", headers=_with_cookie(ADMIN_TOKEN))
        bearer = await api.get("/system/status", headers=BEARER)
    assert status.status_code == 401
    assert (page.status_code, page.headers["location"]) == (303, "/dashboard/login")
    # The stale cookie is cleared on the way to the login form.
    assert f'{ADMIN_COOKIE}=""' in page.headers["set-cookie"]
    assert bearer.status_code == 200


async def test_logout_revokes_the_session_on_the_server(tmp_path: Path) -> None:
    async with serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app, http(app) as api:
        cookie = await log_in(api)
        assert (await api.get("/system/status")).status_code == 200
        logout = await api.post("/dashboard/logout", headers={"Origin": LOCAL})
        api.cookies.clear()
        replayed = await api.get("/system/status", headers=_with_cookie(cookie))
        page = await api.get("/dashboard", headers=_with_cookie(cookie))
        stored = await app.state.services.store.items("dashboard_sessions")
    assert logout.status_code == 303
    assert replayed.status_code == 401
    assert page.status_code == 303
    assert stored == {}


async def test_every_login_opens_a_new_session_and_ends_the_one_presented(tmp_path: Path) -> None:
    async with serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app, http(app) as api:
        first = await log_in(api)
        second = await log_in(api)  # the client presents `first` with this login
        api.cookies.clear()
        old = await api.get("/system/status", headers=_with_cookie(first))
        new = await api.get("/system/status", headers=_with_cookie(second))
    assert first != second
    assert old.status_code == 401
    assert new.status_code == 200


async def test_a_session_ends_after_its_absolute_lifetime(tmp_path: Path) -> None:
    overrides = {"streamcore_admin_token": ADMIN_TOKEN, "streamcore_session_max_age_s": 1}
    async with serving(tmp_path, **overrides) as app, http(app) as api:
        await log_in(api)
        assert (await api.get("/system/status")).status_code == 200

        async def refused() -> bool:
            return (await api.get("/system/status")).status_code == 401

        await eventually(refused, within_s=5, what="the session expired")


@pytest.mark.slow  # waits out real idle periods (seconds)
async def test_a_session_ends_when_idle_and_use_keeps_it_alive(tmp_path: Path) -> None:
    overrides = {"streamcore_admin_token": ADMIN_TOKEN, "streamcore_session_idle_s": 1}
    async with serving(tmp_path, **overrides) as app, http(app) as api:
        cookie = await log_in(api)
        # In use for three idle periods: each use refreshes it.
        for _ in range(15):
            assert (await api.get("/system/status")).status_code == 200
            await asyncio.sleep(0.2)
        api.cookies.clear()
        store = app.state.services.store

        async def dropped() -> bool:  # watched in the store: a request would refresh it
            return await store.items("dashboard_sessions") == {}

        await eventually(dropped, within_s=5, what="the idle session dropped")
        status = await api.get("/system/status", headers=_with_cookie(cookie))
    assert status.status_code == 401


async def test_a_store_outage_while_checking_a_session_answers_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app, http(app) as api:
        await log_in(api)

        async def unavailable(namespace: str, key: str) -> str | None:
            raise StoreUnavailable("PostgreSQL is unavailable (test); retry later")

        monkeypatch.setattr(app.state.services.store, "get", unavailable)
        status = await api.get("/system/status")
    assert status.status_code == 503
    assert status.json()["error"] == "backend_unavailable"
    assert status.headers["retry-after"]


async def _closed_with(ws: ClientConnection) -> int | None:
    try:
        await asyncio.wait_for(ws.recv(), 10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    raise AssertionError("the socket stayed open")


@pytest.mark.slow
async def test_the_events_socket_refuses_a_revoked_session(tmp_path: Path) -> None:
    async with run_streamcore(
        tmp_path, "", ws_require_auth=True, streamcore_admin_token=ADMIN_TOKEN
    ) as server:
        own = server.http_url
        async with httpx.AsyncClient(base_url=own) as api:
            cookie = await log_in(api, origin=own)
            dashboard = await connect(
                server.ws_url(),
                origin=Origin(own),
                additional_headers=_with_cookie(cookie),
            )
            await eventually(lambda: server.connected() == 1, what="the dashboard connected")
            await server.publisher.publish("alert.follow", {"user": "ada"})
            assert (await receive_json(dashboard))["event"] == "alert.follow"
            await dashboard.close()
            await api.post("/dashboard/logout", headers={"Origin": own})
        revoked = await connect(
            server.ws_url(),
            origin=Origin(own),
            additional_headers=_with_cookie(cookie),
        )
        token = await connect(
            server.ws_url(),
            origin=Origin(own),
            additional_headers=_with_cookie(ADMIN_TOKEN),
        )
        assert await _closed_with(revoked) == 4001
        assert await _closed_with(token) == 4001
