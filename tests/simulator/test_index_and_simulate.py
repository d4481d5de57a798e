"""The simulator's root page, and `streamcore simulate`'s redirect URIs (flags, environment)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from simulator.errors import SimulatorError
from simulator.testing import run_simulator
from tests.conftest import free_port
from tests.simulator.helpers import WAIT_S

ROOT = Path(__file__).resolve().parents[2]
#: StreamCore's default TWITCH_REDIRECT_URI, which the simulator always accepts.
DEFAULT_REDIRECT_URI = "http://localhost:8000/tokens/callback"


def test_redirect_uris_put_the_flags_first_then_the_environment_then_the_default():
    from cli.commands.simulate import redirect_uris

    flags = ["https://sc.example.com/tokens/callback", "http://localhost:9000/tokens/callback"]
    environ = {"TWITCH_REDIRECT_URI": "http://127.0.0.1:8123/tokens/callback"}
    assert redirect_uris(flags, environ) == [
        *flags,
        environ["TWITCH_REDIRECT_URI"],
        DEFAULT_REDIRECT_URI,
    ]
    assert redirect_uris([], {}) == [DEFAULT_REDIRECT_URI]
    assert redirect_uris([DEFAULT_REDIRECT_URI, DEFAULT_REDIRECT_URI], {}) == [DEFAULT_REDIRECT_URI]
    with pytest.raises(SimulatorError, match="http:// or https://"):
        redirect_uris(["localhost:8000/tokens/callback"], {})


def test_every_control_route_is_described_on_the_root_page():
    from simulator.index import CONTROL_CALLS, control_calls

    calls = dict(control_calls())
    assert set(calls) == set(CONTROL_CALLS)
    assert all(calls.values())


@pytest.mark.slow
async def test_the_root_page_says_what_the_simulator_is_and_how_to_use_it():
    from simulator.index import CONTROL_CALLS

    callback = "http://127.0.0.1:8765/tokens/callback"
    async with (
        run_simulator(redirect_uri=callback) as sim,
        httpx.AsyncClient(base_url=sim.http_url, timeout=WAIT_S) as http,
    ):
        page = await http.get("/", headers={"Accept": "text/html"})
        facts = await http.get("/", headers={"Accept": "application/json"})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Twitch simulator" in html
    for name, value in sim.env().items():  # this simulator's own settings, port included
        assert f"{name}={value}" in html
    for call in CONTROL_CALLS:
        assert call.replace('"', "&quot;") in html
    assert "docs/simulator.md" in html and "streamcore trigger" in html
    assert facts.json()["settings"] == sim.env()
    assert facts.json()["redirect_uris"] == [callback, DEFAULT_REDIRECT_URI]


@pytest.mark.slow
async def test_simulate_registers_every_redirect_uri_from_flags_and_environment():
    port = free_port()
    flag_uris = ["https://sc.example.com/tokens/callback", "http://localhost:9001/tokens/callback"]
    env_uri = "http://127.0.0.1:9002/tokens/callback"
    command = [sys.executable, "-m", "cli.main", "simulate", "--port", str(port)]
    for uri in flag_uris:
        command += ["--redirect-uri", uri]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TWITCH_REDIRECT_URI": env_uri},
    )
    assert process.stdout is not None
    try:
        printed: dict[str, str] = {}
        async with asyncio.timeout(WAIT_S * 2):
            while "TWITCH_REDIRECT_URI" not in printed:
                line = (await process.stdout.readline()).decode().strip()
                if "=" in line and not line.startswith("#"):
                    name, _, value = line.partition("=")
                    printed[name] = value
        assert printed["TWITCH_REDIRECT_URI"] == flag_uris[0]
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=WAIT_S) as http:
            for uri in [*flag_uris, env_uri, DEFAULT_REDIRECT_URI]:
                answer = await http.get("/oauth2/authorize", params=_authorize(printed, uri))
                assert answer.status_code == 302, (uri, answer.text)
                assert answer.headers["location"].startswith(uri + "?code=")
            stranger = "http://evil.example/tokens/callback"
            answer = await http.get("/oauth2/authorize", params=_authorize(printed, stranger))
            assert answer.status_code == 400
            page = await http.get("/")
        assert all(uri in page.text for uri in [*flag_uris, env_uri, DEFAULT_REDIRECT_URI])
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), WAIT_S)


def _authorize(settings: dict[str, str], redirect_uri: str) -> dict[str, str]:
    return {
        "client_id": settings["TWITCH_CLIENT_ID"],
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "",
        "state": "s",
    }
