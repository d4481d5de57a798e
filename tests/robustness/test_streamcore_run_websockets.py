"""How `streamcore run` serves /ws/events to real-world handshakes: permessage-deflate offered
by every browser (declined unless WS_COMPRESSION=true) and over-long handshakes (answered with
an HTTP error instead of left hanging). `streamcore run` runs as a subprocess, as users run it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.rawws import TEXT, RawClient

pytestmark = pytest.mark.slow  # `streamcore run` as a subprocess

REPO = Path(__file__).resolve().parents[2]
#: What Chrome and Firefox offer in every WebSocket handshake.
BROWSER_OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"


@contextmanager
def streamcore_run(tmp_path: Path, **env: str) -> Iterator[int]:
    """`streamcore run` on embedded backends in `tmp_path`; yields its port once it answers."""
    port = free_port()
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWITCH_", "REDIS_", "DATABASE_", "POSTGRES_", "STREAMCORE_", "WS_"))
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "run", "--port", str(port)],
        cwd=tmp_path,
        env={**clean, **env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"streamcore exited:\n{process.communicate()[0]}"
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "streamcore run did not answer in 30 s"
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.communicate(timeout=15)


async def handshake(port: int, extra_headers: str = "", path: str = "/ws/events") -> bytes:
    """Send a WebSocket handshake; the server's answer head (or b"" if it closes silently),
    within 2 s. TimeoutError when no answer comes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"{extra_headers}\r\n".encode()
    )
    try:
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 2)
    finally:
        writer.transport.abort()


async def test_browser_offer_of_permessage_deflate_is_declined_by_default(tmp_path: Path) -> None:
    with streamcore_run(tmp_path) as port:
        head = await handshake(port, BROWSER_OFFER)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"sec-websocket-extensions" not in head.lower(), head


async def test_ws_compression_true_accepts_permessage_deflate(tmp_path: Path) -> None:
    with streamcore_run(tmp_path, WS_COMPRESSION="true") as port:
        head = await handshake(port, BROWSER_OFFER)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"sec-websocket-extensions: permessage-deflate" in head.lower(), head


async def test_over_long_handshakes_get_an_http_error_and_normal_clients_still_work(
    tmp_path: Path,
) -> None:
    with streamcore_run(tmp_path) as port:
        # A 12 KB request line: websockets refuses over 8 KB while parsing the handshake.
        try:
            head = await handshake(port, path="/ws/events?events=" + "a" * 12_000)
        except TimeoutError:
            head = b"(no answer within 2 s)"
        assert head.startswith(b"HTTP/1.1 414"), head[:100]
        many = "".join(f"X-Filler-{n}: x\r\n" for n in range(200))  # more than 128 headers
        try:
            head = await handshake(port, many)
        except TimeoutError:
            head = b"(no answer within 2 s)"
        assert head.startswith(b"HTTP/1.1 431"), head[:100]
        client = await RawClient.connect(port, "/ws/events")
        await client.send_text('{"op": "ping"}')
        opcode, payload = await client.read_frame(timeout=10)
        assert opcode == TEXT and json.loads(payload)["event"] == "system.pong"
        client.close()
