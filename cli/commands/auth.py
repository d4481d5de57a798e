"""`streamcore auth`: authorize StreamCore on a machine without a browser (device code flow).

Prints the verification URL and the user code, polls Twitch (honouring `interval` and
`slow_down`) while showing progress, then stores the token encrypted in the configured store.
A running StreamCore picks the new token up from the store on its next call.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from core.settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "auth", help="authorize StreamCore with Twitch using a code (no browser needed here)"
    )
    parser.add_argument(
        "--scope",
        action="append",
        default=[],
        metavar="SCOPE",
        help="also request this scope (repeatable); the workers' scopes are always requested",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.logging import configure_logging
    from core.settings import load_settings

    settings = load_settings()
    configure_logging("WARNING", settings.streamcore_log_format)
    from tokens.scopes import CORE_SCOPES, union_scopes

    scopes = union_scopes(CORE_SCOPES, _worker_scopes(), args.scope)
    login = asyncio.run(authorize_device(settings, scopes))
    return 0 if login else 1


def _worker_scopes() -> list[str]:
    from worker_runtime.discovery import discover_workers

    return discover_workers().required_scopes()


async def authorize_device(
    settings: Settings,
    scopes: list[str],
    *,
    out: TextIO = sys.stdout,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> str | None:
    """Run the device flow end to end and store the token; returns the login it belongs to."""
    # Imported here, not at the top: every `streamcore` command builds this module's parser,
    # and a trigger or a status must not pay for the HTTP and token stack it never uses.
    import httpx

    from db_infrastructure import create_store
    from tokens.constants import HTTP_TIMEOUT_S
    from tokens.device import poll_until_authorized
    from tokens.oauth import TwitchOAuth
    from tokens.vault import TokenVault

    store = create_store(settings)
    await store.connect()
    try:
        vault = TokenVault(store, settings)
        async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as http:
            oauth = TwitchOAuth(settings, http)
            code = await oauth.start_device(scopes)
            print("To connect StreamCore to Twitch, open this page on any device:", file=out)
            print(f"    {code.verification_uri}", file=out)
            print(f"and enter the code:  {code.user_code}", file=out)
            if scopes:
                print(f"Requested scopes: {' '.join(scopes)}", file=out)

            def progress(interval: float, seconds_left: float) -> None:
                minutes, seconds = divmod(max(0, int(seconds_left)), 60)
                print(
                    f"  waiting for approval... (checking every {interval:g} s, "
                    f"code valid {minutes}:{seconds:02d} more)",
                    file=out,
                    flush=True,
                )

            grant = await poll_until_authorized(oauth, code, scopes, sleep=sleep, on_wait=progress)
            token = await oauth.identify(grant, time.time())
        await vault.save(token)
    finally:
        await store.close()
    print(f"Connected as {token.login}. The token is stored (encrypted) in {store.name}.", file=out)
    return token.login
