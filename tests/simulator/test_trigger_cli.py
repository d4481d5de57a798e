"""`streamcore trigger` against a running simulator: helpful refusals, fragments that follow
`--set message.text`, and a command that stays light to import (subprocesses)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.simulator.helpers import eventsub, helix, subscribe

pytestmark = pytest.mark.slow  # subprocesses and the simulator on a port

ROOT = Path(__file__).resolve().parents[2]
#: Modules a trigger has no use for: the web stack and the settings machinery (together about
#: a second of imports), and the simulator's server side.
HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "pydantic_settings",
    "httpx",
    "simulator.app",
    "simulator.state",
    "simulator.events",
)


async def _trigger(sim: Any, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "cli.main", "trigger", *args, "--simulator", sim.http_url]
    return await asyncio.to_thread(
        subprocess.run, command, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def _refusal(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.strip().count("\n") == 0, result.stderr  # one line
    return result.stderr.strip()


async def test_an_unknown_type_lists_the_supported_types(simulator):
    from simulator.events import SUPPORTED_TYPES

    message = _refusal(await _trigger(simulator, "channel.folow"))
    assert "unknown subscription type 'channel.folow'" in message
    assert "Did you mean channel.follow?" in message
    missing = [name for name in SUPPORTED_TYPES if name not in message]
    assert missing == []


async def test_an_unknown_field_is_refused_with_the_fields_of_that_event(simulator):
    me = simulator.users["broadcaster"].id
    token = (await simulator.issue_token())["access_token"]
    async with helix(simulator, token) as api, eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
        condition = {"to_broadcaster_user_id": me}
        assert (await subscribe(api, session_id, "channel.raid", condition)).status_code == 202
        message = _refusal(await _trigger(simulator, "channel.raid", "--set", "nosuchfield=1"))
        assert "'nosuchfield'" in message and "channel.raid" in message
        for field in ("viewers", "from_broadcaster_user_name", "to_broadcaster_user_id"):
            assert field in message
        # Refused before anything was sent.
        assert all(not session.recent for session in simulator.state.sessions.values())


async def test_a_value_of_the_wrong_kind_is_named_in_plain_words(simulator):
    message = _refusal(await _trigger(simulator, "channel.raid", "--set", "viewers=lots"))
    assert message.endswith("--set viewers=lots: expected a whole number")
    assert "a int" not in message


async def test_set_message_text_rebuilds_the_fragments_the_chat_overlay_draws(simulator):
    me = simulator.users["broadcaster"].id
    token = (await simulator.issue_token(scopes=["user:read:chat"]))["access_token"]
    condition = {"broadcaster_user_id": me, "user_id": me}
    async with helix(simulator, token) as api, eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
        response = await subscribe(api, session_id, "channel.chat.message", condition)
        assert response.status_code == 202, response.text
        result = await _trigger(
            simulator, "channel.chat.message", "--set", "message.text=hello from the CLI"
        )
        assert result.returncode == 0, result.stderr
        event = (await client.next_of("notification"))["payload"]["event"]
    assert event["message"]["text"] == "hello from the CLI"
    fragments = event["message"]["fragments"]
    assert [(f["type"], f["text"]) for f in fragments] == [("text", "hello from the CLI")]


async def test_set_bits_on_a_cheer_gives_a_message_that_adds_up(simulator):
    me = simulator.users["broadcaster"].id
    token = (await simulator.issue_token())["access_token"]
    async with helix(simulator, token) as api, eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
        condition = {"broadcaster_user_id": me}
        assert (await subscribe(api, session_id, "channel.cheer", condition)).status_code == 202
        result = await _trigger(simulator, "channel.cheer", "--set", "bits=1", "--count", "5")
        assert result.returncode == 0, result.stderr
        events = [(await client.next_of("notification"))["payload"]["event"] for _ in range(5)]
    for event in events:
        assert event["bits"] == 1
        assert event["message"].split(" ")[0].lower() == "cheer1", event


async def test_the_trigger_command_imports_no_heavy_module(simulator):
    # What `streamcore trigger` loads through the whole CLI (every command's parser is
    # built), measured in a fresh interpreter (speed itself is not asserted: machines vary).
    script = f"""
import json, sys
from cli.main import main
code = main(["trigger", "channel.follow", "--simulator", {simulator.http_url!r}])
heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
print(json.dumps({{"code": code, "heavy": heavy}}))
"""
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"code": 0, "heavy": []}
    assert "channel.follow: delivered 0 notification(s)" in result.stdout
