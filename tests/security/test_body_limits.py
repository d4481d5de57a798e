"""Item 4: control requests are refused before their body is read, and every body is limited.

The counting body shows how much the server pulled: httpx's ASGI transport hands the app a
chunk only when the app asks `receive()` for one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.events.conftest import run_streamcore
from tests.security.conftest import (
    ADMIN_TOKEN,
    BEARER,
    MIB,
    REMOTE_CLIENT,
    CountingBody,
    http,
    serving,
)

#: Control routes that take a body (FastAPI reads and parses it before running the route's
#: dependencies, require_admin included, unless the guard refuses first).
CONTROL_POSTS = ["/keys", "/demo/trigger"]


@pytest.mark.parametrize("path", CONTROL_POSTS)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_control_request_without_the_token_is_refused_before_its_body_is_read(
    tmp_path: Path, path: str, framing: str
) -> None:
    body = CountingBody(5 * MIB)
    headers = {"Content-Type": "application/json"}
    if framing == "content-length":
        headers["Content-Length"] = str(body.total)
    async with serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app, http(app) as api:
        response = await api.post(path, content=body, headers=headers)
    assert response.status_code == 401
    assert "Admin token required" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"
    assert body.sent == 0


async def test_a_remote_control_request_without_an_admin_token_is_refused_unread(
    tmp_path: Path,
) -> None:
    body = CountingBody(5 * MIB)
    async with (
        serving(tmp_path, streamcore_allowed_hosts="198.51.100.2") as app,
        http(app, "http://198.51.100.2", client=REMOTE_CLIENT) as api,
    ):
        response = await api.post("/keys", content=body)
    assert response.status_code == 403
    assert "STREAMCORE_ADMIN_TOKEN" in response.json()["detail"]
    assert body.sent == 0


async def test_an_authorized_body_declared_too_large_gets_413_unread(tmp_path: Path) -> None:
    body = CountingBody(2 * MIB)
    headers = {**BEARER, "Content-Type": "application/json", "Content-Length": str(body.total)}
    async with serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app, http(app) as api:
        response = await api.post("/keys", content=body, headers=headers)
    assert response.status_code == 413
    assert response.json() == {
        "error": "body_too_large",
        "message": "The request body is larger than 1048576 bytes (STREAMCORE_MAX_BODY_BYTES).",
    }
    assert body.sent == 0


async def test_a_streamed_body_gets_413_as_soon_as_it_grows_past_the_limit(
    tmp_path: Path,
) -> None:
    body = CountingBody(2 * MIB)  # no Content-Length: chunked
    headers = {**BEARER, "Content-Type": "application/json"}
    async with serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app, http(app) as api:
        response = await api.post("/keys", content=body, headers=headers)
        keys = await api.get("/keys", headers=BEARER)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert body.sent <= MIB + body.chunk  # reading stopped at the first chunk past the limit
    assert keys.json() == []


async def test_the_limit_covers_public_routes_too(tmp_path: Path) -> None:
    body = CountingBody(2 * MIB)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app, http(app) as api:
        response = await api.post("/dashboard/login", content=body, headers=headers)
    assert response.status_code == 413
    assert body.sent <= MIB + body.chunk


async def test_the_limit_is_a_setting_and_smaller_bodies_are_served(tmp_path: Path) -> None:
    async with (
        serving(
            tmp_path, streamcore_admin_token=ADMIN_TOKEN, streamcore_max_body_bytes=4096
        ) as app,
        http(app) as api,
    ):
        small = await api.post("/keys", json={"name": "obs"}, headers=BEARER)
        big = await api.post("/keys", json={"name": "x" * 5000}, headers=BEARER)
    assert small.status_code == 201
    assert big.status_code == 413
    assert "4096 bytes" in big.json()["message"]


async def _raw_post_head(port: int, path: str, length: int, extra: str = "") -> tuple[bytes, bool]:
    """Send only the head of a POST announcing `length` bytes; return the server's answer and
    whether it then closed the connection (it must not wait for the body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {length}\r\n{extra}\r\n"
            ).encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        rest = await asyncio.wait_for(reader.read(), 10)  # b"..." then EOF: closed
        return head + rest, reader.at_eof()
    finally:
        writer.close()


@pytest.mark.slow
async def test_a_real_server_answers_before_the_body_arrives(tmp_path: Path) -> None:
    async with run_streamcore(tmp_path, "", streamcore_admin_token=ADMIN_TOKEN) as server:
        refused, refused_closed = await _raw_post_head(server.port, "/keys", 200 * MIB)
        too_large, too_large_closed = await _raw_post_head(
            server.port, "/keys", 2 * MIB, f"Authorization: Bearer {ADMIN_TOKEN}\r\n"
        )
    assert refused.startswith(b"HTTP/1.1 401"), refused
    assert refused_closed
    assert too_large.startswith(b"HTTP/1.1 413"), too_large
    assert b'"error":"body_too_large"' in too_large
    assert too_large_closed
