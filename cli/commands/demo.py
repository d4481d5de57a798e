"""`streamcore demo`: StreamCore and the Twitch simulator wired together, authorized, running.

One command on a fresh machine: it starts the simulator, starts StreamCore on the embedded
backends (its own data directory, so a real token is never touched), authorizes it through the
real OAuth flow against the simulator, starts the gateway and workers, and prints the URLs.
`--activity` plays a gentle stream of simulated viewers so overlays move at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import sys
from typing import Any

from core.errors import StreamCoreError

#: (subscription type, event overrides, weight): a plausible mix for a small channel.
ACTIVITY: list[tuple[str, dict[str, Any], int]] = [
    ("channel.chat.message", {}, 10),
    ("channel.follow", {}, 4),
    ("channel.subscribe", {}, 2),
    ("channel.cheer", {}, 2),
    ("channel.subscription.gift", {}, 1),
    ("channel.subscription.message", {}, 1),
    ("channel.raid", {}, 1),
    ("channel.channel_points_custom_reward_redemption.add", {}, 2),
]
#: Seconds between two simulated viewer actions (uniformly drawn).
ACTIVITY_PAUSE_S = (2.0, 6.0)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo", help="run StreamCore against the built-in Twitch simulator, ready to use"
    )
    parser.add_argument("--port", type=int, default=8000, help="StreamCore's port (8000)")
    parser.add_argument(
        "--simulator-port", type=int, default=8090, help="the simulator's port (8090)"
    )
    parser.add_argument(
        "--activity", action="store_true", help="play simulated viewer activity continuously"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_demo(args.port, args.simulator_port, args.activity))
    return 0


def say(line: str) -> None:
    print(line, flush=True)


async def _demo(port: int, simulator_port: int, activity: bool) -> None:
    import httpx
    import uvicorn

    from app.factory import create_app
    from core.logging import configure_logging
    from core.settings import load_settings
    from simulator.testing import run_simulator

    base = f"http://127.0.0.1:{port}"
    for taken in (port, simulator_port):
        if not _port_free(taken):
            raise StreamCoreError(
                f"Port {taken} on 127.0.0.1 is in use; stop what uses it or pick another with "
                "--port / --simulator-port"
            )
    say(f"Starting the Twitch simulator on 127.0.0.1:{simulator_port} ...")
    async with run_simulator(port=simulator_port, redirect_uri=f"{base}/tokens/callback") as sim:
        env = sim.env()
        settings = load_settings(
            twitch_client_id=env["TWITCH_CLIENT_ID"],
            twitch_client_secret=env["TWITCH_CLIENT_SECRET"],
            twitch_auth_url=env["TWITCH_AUTH_URL"],
            twitch_api_url=env["TWITCH_API_URL"],
            twitch_eventsub_ws_url=env["TWITCH_EVENTSUB_WS_URL"],
            twitch_redirect_uri=f"{base}/tokens/callback",
            # The demo keeps to embedded backends in its own folder: nothing real is touched.
            redis_url=None,
            database_url=None,
            postgres_host=None,
            streamcore_host="127.0.0.1",
            streamcore_port=port,
            streamcore_demo_simulator_url=sim.http_url,
        )
        settings.streamcore_data_dir = settings.streamcore_data_dir / "demo"
        configure_logging("WARNING", settings.streamcore_log_format)
        app = create_app(settings)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
        )
        say(f"Starting StreamCore on {base} ...")
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                serving.result()
                raise SystemExit(f"streamcore: StreamCore could not listen on port {port}")
            await asyncio.sleep(0.05)
        headers = {}
        if settings.streamcore_admin_token is not None:
            headers["Authorization"] = (
                f"Bearer {settings.streamcore_admin_token.get_secret_value()}"
            )
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as api:
            say("Authorizing StreamCore with the simulated broadcaster ...")
            link = (await api.get("/tokens/link")).json()["auth_url"]
            approval = await api.get(link, follow_redirects=False)
            await api.get(approval.headers["location"], headers={"Accept": "application/json"})
            started = await api.post("/system/start")
            if started.status_code != 200:
                print(f"streamcore: the demo could not start: {started.text}", file=sys.stderr)
        say("")
        say("StreamCore demo is running.")
        say(f"  Dashboard        {base}/dashboard")
        say(f"  Alert overlay    {base}/overlays/alerts.html")
        say(f"  Chat overlay     {base}/overlays/chat.html")
        say(f"  Event feed       {base}/overlays/feed.html")
        say(f"  Events socket    ws://127.0.0.1:{port}/ws/events")
        say(f"  Simulator        {sim.http_url}")
        fire = "uv run streamcore trigger channel.follow"
        if simulator_port != 8090:
            fire += f" --simulator {sim.http_url}"
        say(f"  Fire an event    {fire}")
        say("Press Ctrl+C to stop.")
        player = asyncio.create_task(_play_activity(sim)) if activity else None
        try:
            await serving
        finally:
            if player is not None:
                player.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await player


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _play_activity(sim: Any) -> None:
    types = [entry[0] for entry in ACTIVITY]
    weights = [entry[2] for entry in ACTIVITY]
    overrides = {entry[0]: entry[1] for entry in ACTIVITY}
    while True:
        await asyncio.sleep(random.uniform(*ACTIVITY_PAUSE_S))
        chosen = random.choices(types, weights)[0]
        with contextlib.suppress(Exception):  # the demo must not die on one failed trigger
            await sim.trigger(chosen, event=overrides[chosen])
