"""Item 6: cross-site request forgery and DNS rebinding.

State-changing requests authorized by the login cookie or by the loopback rule must come from
an allowed origin; Bearer requests need none. Every request's Host must be a name this server
answers to, WebSocket handshakes included, while overlays keep connecting from any page.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Origin

from app.system import System
from events.keys import ClientKeys
from tests.events.conftest import receive_json, run_streamcore
from tests.security.conftest import (
    ADMIN_TOKEN,
    BEARER,
    LOCAL,
    REMOTE_CLIENT,
    http,
    log_in,
    serving,
)

EVIL = "http://evil.test"
#: What a page elsewhere sends with `fetch(url, {method: "POST", mode: "no-cors"})`.
NO_CORS = {"Content-Type": "text/plain"}


class StopSpy:
    """Stands in for System.stop: records that the system was told to stop."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        return "stopped"


def _spy_on_stop(system: System) -> StopSpy:
    spy = StopSpy()
    system.stop = spy  # type: ignore[method-assign]
    return spy


async def test_a_cross_site_post_with_the_login_cookie_is_refused_and_stops_nothing(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app, http(app) as api:
        spy = _spy_on_stop(app.state.services.system)
        await log_in(api)
        answers = [
            await api.post("/system/stop", headers={**NO_CORS, "Origin": EVIL}),
            await api.post("/system/stop", headers={**NO_CORS, "Referer": f"{EVIL}/page"}),
            await api.post("/system/stop", headers={**NO_CORS, "Origin": "null"}),
            await api.post("/system/stop", headers=NO_CORS),  # a cookie, and no origin at all
            await api.post("/keys", json={"name": "evil"}, headers={"Origin": EVIL}),
            await api.post("/dashboard/logout", headers={"Origin": EVIL}),
        ]
        assert spy.calls == 0
        keys = (await api.get("/keys")).json()
        still_in = await api.get("/system/status")
        same_site = await api.post("/system/stop", headers={"Origin": LOCAL})
        by_referer = await api.post("/system/stop", headers={"Referer": f"{LOCAL}/dashboard"})
    for answer in answers:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"] == "cross_site_request"
    assert keys == []
    assert still_in.status_code == 200  # the cross-site logout did not log out either
    assert same_site.status_code == 200
    assert by_referer.status_code == 200
    assert spy.calls == 2


async def test_without_an_admin_token_local_posts_from_another_site_are_refused(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path) as app, http(app) as api:
        spy = _spy_on_stop(app.state.services.system)
        foreign = await api.post("/system/stop", headers={**NO_CORS, "Origin": EVIL})
        rebound = await api.post(
            "/keys", json={"name": "x"}, headers={"Origin": "http://localhost:3000"}
        )
        keys = await ClientKeys(app.state.services.store).list()
        own = await api.post("/system/stop", headers={"Origin": LOCAL})
        script = await api.post("/system/stop")  # curl, `streamcore demo`: no browser, no origin
    assert (foreign.status_code, rebound.status_code) == (403, 403)
    assert keys == []
    assert (own.status_code, script.status_code) == (200, 200)
    assert spy.calls == 2


async def test_a_bearer_post_needs_no_origin(tmp_path: Path) -> None:
    async with serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app, http(app) as api:
        plain = await api.post("/keys", json={"name": "obs"}, headers=BEARER)
        foreign = await api.post("/keys", json={"name": "esp"}, headers={**BEARER, "Origin": EVIL})
    assert plain.status_code == 201
    assert foreign.status_code == 201


async def test_the_public_name_behind_a_tls_proxy_may_post_from_its_https_origin(
    tmp_path: Path,
) -> None:
    overrides = {
        "streamcore_admin_token": ADMIN_TOKEN,
        "twitch_redirect_uri": "https://streamcore.example.com/tokens/callback",
    }
    async with (
        serving(tmp_path, **overrides) as app,
        http(app, "http://streamcore.example.com", client=REMOTE_CLIENT) as api,
    ):
        proxied = {"X-Forwarded-For": "203.0.113.9", "Origin": "https://streamcore.example.com"}
        login = await api.post("/dashboard/login", data={"token": ADMIN_TOKEN}, headers=proxied)
        stop = await api.post("/system/stop", headers=proxied)
        evil = await api.post("/system/stop", headers={**proxied, "Origin": EVIL})
    assert login.status_code == 303
    assert stop.status_code == 200
    assert evil.status_code == 403


@pytest.mark.parametrize("path", ["/", "/overlays/alerts.html", "/system/status", "/dashboard"])
async def test_a_foreign_host_gets_400_even_from_loopback(tmp_path: Path, path: str) -> None:
    async with serving(tmp_path) as app, http(app) as api:
        response = await api.get(path, headers={"Host": "evil.test"})
        with_port = await api.post("/system/stop", headers={"Host": "evil.test:8000"})
    assert response.status_code == 400
    assert response.json()["error"] == "unknown_host"
    assert "STREAMCORE_ALLOWED_HOSTS" in response.json()["message"]
    assert with_port.status_code == 400


async def test_loopback_names_and_configured_hosts_are_answered(tmp_path: Path) -> None:
    overrides = {
        "streamcore_admin_token": ADMIN_TOKEN,
        "streamcore_host": "192.0.2.10",
        "streamcore_allowed_hosts": "pi.local",
        "twitch_redirect_uri": "https://streamcore.example.com/tokens/callback",
    }
    allowed = [
        "localhost:8000",
        "127.0.0.1",
        "[::1]:8000",
        "pi.local:8000",
        "192.0.2.10:8000",
        "streamcore.example.com",
    ]
    async with serving(tmp_path, **overrides) as app, http(app) as api:
        answers = [(await api.get("/", headers={"Host": host})).status_code for host in allowed]
        other = await api.get("/", headers={"Host": "192.0.2.11:8000"})
    assert answers == [200] * len(allowed)
    assert other.status_code == 400


async def _handshake_status(port: int, host: str, path: str = "/ws/events") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    finally:
        writer.close()


@pytest.mark.slow
async def test_a_websocket_handshake_with_a_foreign_host_is_rejected_with_403(
    tmp_path: Path,
) -> None:
    async with run_streamcore(tmp_path, "") as server:
        rebound = await _handshake_status(server.port, f"evil.test:{server.port}")
        local = await _handshake_status(server.port, f"localhost:{server.port}")
    assert rebound.startswith(b"HTTP/1.1 403"), rebound
    assert local.startswith(b"HTTP/1.1 101"), local


@pytest.mark.slow
async def test_overlays_connect_with_a_key_from_any_origin(tmp_path: Path) -> None:
    async with run_streamcore(tmp_path, "", ws_require_auth=True) as server:
        key, _ = await ClientKeys(server.services.store).create("obs", "")
        sockets = [
            await connect(server.ws_url(f"key={key}"), origin=Origin(origin))
            for origin in ("null", "http://obs.example", "file://")
        ]
        await server.publisher.publish("alert.follow", {"user": "ada"})
        try:
            for ws in sockets:
                assert (await receive_json(ws))["event"] == "alert.follow"
        finally:
            for ws in sockets:
                await ws.close()
