"""`streamcore simulate`: run the Twitch simulator alone and print the settings pointing at it."""

from __future__ import annotations

import argparse
import asyncio
import os

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090
#: StreamCore's default callback (core.settings' TWITCH_REDIRECT_URI); always registered.
DEFAULT_REDIRECT_URI = "http://localhost:8000/tokens/callback"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "simulate", help="run the Twitch simulator (EventSub, Helix, OAuth, control API)"
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        metavar="URL",
        help=(
            "register this OAuth redirect URI (StreamCore's TWITCH_REDIRECT_URI); repeatable. "
            "TWITCH_REDIRECT_URI from the environment is registered too, and so is always "
            f"{DEFAULT_REDIRECT_URI}. The first one given is the one printed"
        ),
    )
    parser.add_argument(
        "--allow-http-callbacks",
        action="store_true",
        help=(
            "also deliver webhooks to http://127.0.0.1:PORT callbacks (local testing of "
            "TWITCH_EVENTSUB_TRANSPORT=webhook; Twitch itself calls only https on port 443)"
        ),
    )
    parser.set_defaults(func=run)


def redirect_uris(given: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """The redirect URIs to register, the printed one first: `--redirect-uri` values, then
    TWITCH_REDIRECT_URI from the environment, then StreamCore's default; each once."""
    from simulator.errors import SimulatorError

    environ = dict(os.environ) if environ is None else environ
    from_env = environ.get("TWITCH_REDIRECT_URI", "").strip()
    uris: list[str] = []
    for uri in [*given, from_env, DEFAULT_REDIRECT_URI]:
        uri = uri.strip()
        if not uri or uri in uris:
            continue
        if not uri.startswith(("http://", "https://")):
            raise SimulatorError(
                f"redirect URI {uri!r} must be an http:// or https:// URL, "
                "e.g. http://localhost:8000/tokens/callback"
            )
        uris.append(uri)
    return uris


async def _serve(host: str, port: int, uris: list[str], allow_http_callbacks: bool = False) -> None:
    from simulator.testing import run_simulator

    primary, *others = uris
    async with run_simulator(
        host=host,
        port=port,
        access_log=True,
        redirect_uri=primary,
        extra_redirect_uris=list(others),
        allow_http_callbacks=allow_http_callbacks,
    ) as sim:
        print("# Twitch simulator running. Point StreamCore at it with:", flush=True)
        for name, value in sim.env().items():
            print(f"{name}={value}", flush=True)
        also = sim.state.config.extra_redirect_uris
        if also:
            print(f"# also accepted as redirect URIs: {', '.join(also)}", flush=True)
        print(f"# what it is, its settings and its control API: {sim.http_url}/", flush=True)
        print(
            f"# control API: {sim.control_url} (POST /control/trigger ...); Ctrl-C stops",
            flush=True,
        )
        await sim.wait_stopped()


def run(args: argparse.Namespace) -> int:
    from core.logging import configure_logging

    uris = redirect_uris(args.redirect_uri)
    configure_logging("INFO", "text")
    asyncio.run(_serve(args.host, args.port, uris, args.allow_http_callbacks))
    return 0
