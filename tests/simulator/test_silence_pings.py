"""A silenced session sends nothing at all: not even WebSocket Pings (raw-socket client, since
websockets answers Pings on its own and hides them)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from simulator.testing import run_simulator
from tests.rawws import PING, TEXT, RawClient

pytestmark = pytest.mark.slow  # the simulator serves on a port

#: The simulator's Ping interval here.
PING_S = 1.0


async def pings_seen(sim: Any, seconds: float, silence: bool) -> int:
    """How many Pings one session sends in `seconds` (silenced right after its welcome)."""
    raw = await RawClient.connect(sim.port, "/ws", host=sim.host)
    pings, welcomed = 0, False
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    try:
        while loop.time() < end:
            try:
                opcode, data = await raw.read_frame(timeout=end - loop.time())
            except TimeoutError:
                break
            if opcode == PING:
                pings += 1
            elif opcode == TEXT and not welcomed:
                welcomed = True
                session_id = json.loads(data)["payload"]["session"]["id"]
                if silence:
                    async with httpx.AsyncClient() as control:
                        await control.post(
                            f"{sim.http_url}/control/sessions/{session_id}/silence",
                            json={"silent": True},
                        )
    finally:
        raw.close()
    return pings


async def test_a_silenced_session_sends_no_pings_while_a_normal_one_does() -> None:
    # This raw client never answers a Ping, so a session sends one, PING_S after its welcome,
    # and then waits out ping_timeout. The silence request must land before that one: with
    # 0.3 s it did not always on a loaded CI machine, and a normal session's Ping was counted.
    async with run_simulator(ping_interval_s=PING_S, ping_timeout_s=5) as sim:
        assert await pings_seen(sim, PING_S + 1.0, silence=False) >= 1
        assert await pings_seen(sim, PING_S + 1.0, silence=True) == 0
