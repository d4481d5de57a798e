"""A silenced session sends nothing at all: not even WebSocket Pings (raw-socket client, since
websockets answers Pings on its own and hides them)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from typing import Any

import httpx

from simulator.testing import run_simulator

PING_OPCODE = 0x9
TEXT_OPCODE = 0x1


async def pings_seen(sim: Any, seconds: float, silence: bool) -> int:
    port = int(sim.http_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    pings, welcomed = 0, False
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    try:
        while loop.time() < end:
            try:
                head = await asyncio.wait_for(reader.readexactly(2), end - loop.time())
            except TimeoutError:
                break
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", await reader.readexactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", await reader.readexactly(8))[0]
            data = await reader.readexactly(length)
            if opcode == PING_OPCODE:
                pings += 1
            elif opcode == TEXT_OPCODE and not welcomed:
                welcomed = True
                session_id = json.loads(data)["payload"]["session"]["id"]
                if silence:
                    async with httpx.AsyncClient() as control:
                        await control.post(
                            f"{sim.http_url}/control/sessions/{session_id}/silence",
                            json={"silent": True},
                        )
    finally:
        writer.close()
    return pings


async def test_a_silenced_session_sends_no_pings_while_a_normal_one_does() -> None:
    async with run_simulator(ping_interval_s=0.3, ping_timeout_s=5) as sim:
        assert await pings_seen(sim, 1.5, silence=False) >= 1
        assert await pings_seen(sim, 1.5, silence=True) == 0
