"""`streamcore simulate` and `streamcore trigger`, run as subprocesses."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.testing import run_simulator
from tests.conftest import free_port
from tests.simulator.helpers import WAIT_S, eventsub, helix, subscribe

pytestmark = pytest.mark.slow  # subprocesses and the simulator on a port

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", *args]


async def test_simulate_prints_the_settings_and_serves_them():
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *_cli("simulate", "--port", str(port)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        env: dict[str, str] = {}
        async with asyncio.timeout(WAIT_S * 2):
            while "TWITCH_REDIRECT_URI" not in env:
                line = (await process.stdout.readline()).decode().strip()
                if "=" in line and not line.startswith("#"):
                    name, _, value = line.partition("=")
                    env[name] = value
        assert env["TWITCH_EVENTSUB_WS_URL"] == f"ws://127.0.0.1:{port}/ws"
        assert env["TWITCH_API_URL"] == f"http://127.0.0.1:{port}/helix"
        assert env["TWITCH_CLIENT_ID"] and env["TWITCH_CLIENT_SECRET"]
        async with eventsub(env["TWITCH_EVENTSUB_WS_URL"]) as client:
            assert await client.welcome()
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), WAIT_S)


async def test_trigger_fires_a_burst_at_a_running_simulator(simulator):
    me = simulator.users["broadcaster"].id
    token = (await simulator.issue_token())["access_token"]
    async with helix(simulator, token) as api, eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
        assert (
            await subscribe(api, session_id, "channel.raid", {"to_broadcaster_user_id": me})
        ).status_code == 202
        command = _cli(
            "trigger",
            "channel.raid",
            "--count",
            "3",
            "--set",
            "viewers=42",
            "--simulator",
            simulator.http_url,
        )
        result = await asyncio.to_thread(
            subprocess.run, command, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert "delivered 3" in result.stdout
        events = [(await client.next_of("notification"))["payload"]["event"] for _ in range(3)]
    assert [e["viewers"] for e in events] == [42, 42, 42]
    assert all(e["to_broadcaster_user_id"] == me for e in events)


@pytest.mark.parametrize("args", [("channel.raid",), ("channel.raid", "--count", "2")])
def test_trigger_without_a_simulator_fails_with_one_line(args):
    command = _cli("trigger", *args, "--simulator", f"http://127.0.0.1:{free_port()}")
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ}
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "streamcore simulate" in result.stderr


async def test_trigger_reports_an_unknown_type():
    async with run_simulator() as sim:
        command = _cli("trigger", "channel.nope", "--simulator", sim.http_url)
        result = await asyncio.to_thread(
            subprocess.run, command, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 2 and "unknown subscription type" in result.stderr
