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
import os
import random
import signal
import socket
import sys
import threading
from collections.abc import Coroutine
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
#: Seconds open requests get to finish on Ctrl+C before the shutdown goes on without them.
SHUTDOWN_GRACE_S = 5
#: What stops the demo in order (Ctrl+C, and `kill` or a service manager).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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
    parser.add_argument(
        "--transport",
        choices=("websocket", "webhook", "conduit"),
        default="websocket",
        help="how the simulator delivers EventSub (webhook: it POSTs to this machine)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve the demo until Ctrl+C (or SIGTERM), then stop it in order and say so, quietly.

    uvicorn takes SIGINT and SIGTERM over in the main thread and raises them again once its
    server has shut down. With two servers in one loop (the simulator and StreamCore) and
    Ctrl+C arriving twice (the terminal signals the whole process group, and `uv run` may
    forward it too), the raised signals reached asyncio's own handler mid-shutdown: a
    KeyboardInterrupt, cancelled lifespans, and an `ERROR ... CancelledError` traceback. So
    the servers run in a thread of their own, where uvicorn leaves signals alone, and the main
    thread turns Ctrl+C into one orderly stop: StreamCore first (gateway, workers, clients),
    then the simulator. Further Ctrl+Cs change nothing: the stop is under way, and bounded.
    """
    stop = _Stop()
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            asyncio.run(_demo(args.port, args.simulator_port, args.activity, stop, args.transport))
        except BaseException as error:  # handed to the main thread, which reports it
            failures.append(error)

    thread = threading.Thread(target=serve, name="streamcore-demo")
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, stop.request) for sig in STOP_SIGNALS}
    try:
        thread.start()
        thread.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failures:
        raise failures[0]
    if stop.requested:
        say("Stopped.")
    return 0


def say(line: str) -> None:
    print(line, flush=True)


class _Stop:
    """Stop requests (signals, caught in the main thread) handed to the demo's event loop."""

    def __init__(self) -> None:
        self.requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    @property
    def requested(self) -> bool:
        return self.requests > 0

    def request(self, signum: int, frame: object) -> None:
        """The signal handler (main thread)."""
        self.requests += 1
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to stop
                loop.call_soon_threadsafe(self._wake)

    def attach(self) -> asyncio.Event:
        """The event set on a stop request, for the running loop (the demo's thread)."""
        self._event = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        if self.requested:
            self._event.set()
        return self._event

    def _wake(self) -> None:
        assert self._event is not None
        # Only ever an orderly stop: uvicorn's force_exit would skip the lifespan's shutdown.
        self._event.set()


async def _demo(
    port: int, simulator_port: int, activity: bool, stop: _Stop, transport: str = "websocket"
) -> None:
    import httpx
    import uvicorn

    from app.factory import create_app
    from app.instance import announce, demo_data_dir, find_instance
    from core.logging import configure_logging
    from core.settings import load_settings
    from simulator.testing import run_simulator

    stopping = stop.attach()
    base = f"http://127.0.0.1:{port}"
    # One demo per folder: a second would take the first's token and runtime file away.
    running = find_instance(demo_data_dir(load_settings().streamcore_data_dir))
    if running is not None:
        raise StreamCoreError(
            f"The demo already runs here: {running.describe()}. Stop it first (Ctrl+C in its "
            "terminal), or run this one from another folder"
        )
    for taken in (port, simulator_port):
        if not _port_free(taken):
            raise StreamCoreError(
                f"Port {taken} on 127.0.0.1 is in use; stop what uses it or pick another with "
                "--port / --simulator-port"
            )
    say(f"Starting the Twitch simulator on 127.0.0.1:{simulator_port} ...")
    # Twitch calls webhooks only on https:443; the simulator, told so, calls this machine's
    # plain http port instead, so the webhook transport works on a laptop.
    async with run_simulator(
        port=simulator_port,
        redirect_uri=f"{base}/tokens/callback",
        allow_http_callbacks=transport == "webhook",
    ) as sim:
        if stopping.is_set():
            return
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
            twitch_eventsub_transport=transport,
            streamcore_public_url=base if transport == "webhook" else "",
        )
        settings.streamcore_data_dir = demo_data_dir(settings.streamcore_data_dir)
        configure_logging("WARNING", settings.streamcore_log_format)
        await _forget_previous_token(settings)
        app = create_app(settings)
        # The runtime file by which `streamcore status` and `keys` find the demo.
        announce(app, base, "demo")
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
            )
        )
        say(f"Starting StreamCore on {base} ...")
        serving = asyncio.create_task(_serve(server, port))
        player: asyncio.Task[None] | None = None
        try:
            if not await _unless_stopped(stopping, _listening(server, serving, port)):
                return
            headers = {}
            if settings.streamcore_admin_token is not None:
                headers["Authorization"] = (
                    f"Bearer {settings.streamcore_admin_token.get_secret_value()}"
                )
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as api:
                say("Authorizing StreamCore with the simulated broadcaster ...")
                if not await _unless_stopped(stopping, _authorize_and_start(api)):
                    return
            say("")
            say("StreamCore demo is running.")
            say(f"  Dashboard        {base}/dashboard")
            say(f"  Alert overlay    {base}/overlays/alerts.html")
            say(f"  Chat overlay     {base}/overlays/chat.html")
            say(f"  Event feed       {base}/overlays/feed.html")
            say(f"  Events socket    ws://127.0.0.1:{port}/ws/events")
            say(f"  Simulator        {sim.http_url}")
            if transport != "websocket":
                say(f"  EventSub         {transport} transport")
            fire = "uv run streamcore trigger channel.follow"
            if simulator_port != 8090:
                fire += f" --simulator {sim.http_url}"
            say(f"  Fire an event    {fire}")
            say("Press Ctrl+C to stop.")
            player = asyncio.create_task(_play_activity(sim)) if activity else None
            waiting = asyncio.create_task(stopping.wait())
            await asyncio.wait({serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
        finally:
            if player is not None:
                player.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await player
            # StreamCore stops before the simulator it talks to: gateway, workers, clients.
            server.should_exit = True
            await serving


async def _serve(server: Any, port: int) -> None:
    try:
        await server.serve()
    except SystemExit:
        # uvicorn's way to end a failed start (the port, or the lifespan: its one-line reason
        # is logged above). As an exception the demo unwinds in order, simulator included;
        # a SystemExit would escape the event loop and leave tasks to be cancelled.
        raise StreamCoreError(f"StreamCore could not start on port {port}") from None


async def _listening(server: Any, serving: asyncio.Task[None], port: int) -> None:
    while not server.started:
        if serving.done():
            serving.result()  # raises the reason, if there is one
            raise StreamCoreError(f"StreamCore stopped before it listened on port {port}")
        await asyncio.sleep(0.05)


async def _authorize_and_start(api: Any) -> None:
    """The real OAuth flow against the simulator (which approves at once), then start."""
    link = (await api.get("/tokens/link")).json()["auth_url"]
    approval = await api.get(link, follow_redirects=False)
    await api.get(approval.headers["location"], headers={"Accept": "application/json"})
    started = await api.post("/system/start")
    if started.status_code != 200:
        print(f"streamcore: the demo could not start: {started.text}", file=sys.stderr)


async def _unless_stopped(stopping: asyncio.Event, work: Coroutine[Any, Any, None]) -> bool:
    """Run `work` to its end (True), or cancel it when a stop is requested first (False)."""
    task = asyncio.create_task(work)
    waiting = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


async def _forget_previous_token(settings: Any) -> None:
    """Each demo start runs a fresh simulator, which knows none of the tokens a previous one
    issued; the token a previous demo left in the demo's data directory would only be refused
    ("Invalid refresh token", logged as an authorization warning) before the demo authorizes
    again anyway. The demo owns that folder: it forgets the token before StreamCore loads it.
    Client keys and everything else there are kept."""
    from db_infrastructure import create_store
    from tokens.vault import TokenVault

    store = create_store(settings)
    await store.connect()
    try:
        await TokenVault(store, settings).delete()
    finally:
        await store.close()


def _port_free(port: int) -> bool:
    """True when a server can listen on 127.0.0.1:port now.

    Bound the way uvicorn binds (asyncio sets SO_REUSEADDR on POSIX), so connections left in
    TIME_WAIT by a previous run, which do not stop a server from listening, do not count.
    """
    with socket.socket() as probe:
        if os.name == "posix":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
