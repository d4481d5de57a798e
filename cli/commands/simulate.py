"""`streamcore simulate`: run the Twitch simulator alone and print the settings pointing at it."""

from __future__ import annotations

import argparse
import asyncio

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8090


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "simulate", help="run the Twitch simulator (EventSub, Helix, OAuth, control API)"
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    parser.set_defaults(func=run)


async def _serve(host: str, port: int) -> None:
    from simulator.testing import run_simulator

    async with run_simulator(host=host, port=port, access_log=True) as sim:
        print("# Twitch simulator running. Point StreamCore at it with:", flush=True)
        for name, value in sim.env().items():
            print(f"{name}={value}", flush=True)
        print(
            f"# control API: {sim.control_url} (POST /control/trigger ...); Ctrl-C stops",
            flush=True,
        )
        await sim.wait_stopped()


def run(args: argparse.Namespace) -> int:
    from core.logging import configure_logging

    configure_logging("INFO", "text")
    asyncio.run(_serve(args.host, args.port))
    return 0
