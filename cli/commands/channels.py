"""`streamcore channels add|list|remove`: the broadcasters one StreamCore serves.

Every action goes to a running StreamCore (the one `streamcore run` started here, the demo, or
`--url`): adding a channel needs its OAuth callback and device-flow poller, and removing one
revokes its token there. `add` prints an authorization link and a device code for the
broadcaster, then waits (Ctrl-C stops waiting, not the authorization) until the channel shows
up in the list.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from core.errors import StreamCoreError

if TYPE_CHECKING:
    import httpx

#: How long `add` waits for the broadcaster (the device code lives about as long).
ADD_WAIT_S = 600.0
POLL_S = 2.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("channels", help="add, list and remove channels")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument("--url", help="the StreamCore to manage (default: the running one here)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add", parents=[where], help="print a link and a code for a broadcaster to approve"
    )
    add.add_argument("--no-wait", action="store_true", help="print them and return at once")
    add.set_defaults(func=lambda a: _run(a, _add))
    listing = actions.add_parser("list", parents=[where], help="every channel and its state")
    listing.set_defaults(func=lambda a: _run(a, _list))
    remove = actions.add_parser(
        "remove", parents=[where], help="revoke a channel's token and forget it"
    )
    remove.add_argument("login_or_id")
    remove.set_defaults(func=lambda a: _run(a, _remove))


def _run(args: argparse.Namespace, action: Any) -> int:
    import httpx

    from cli.target import admin_headers, status_target
    from core.settings import load_settings

    settings = load_settings()
    target = status_target(settings, args.url)
    assert target.url is not None
    target.say()
    with httpx.Client(base_url=target.url, headers=admin_headers(settings), timeout=10) as http:
        try:
            result: int = action(args, http)
        except httpx.HTTPError:
            raise StreamCoreError(
                f"No StreamCore answers at {target.url}; start it (`streamcore run`), or pass --url"
            ) from None
    return result


def _answer(response: httpx.Response) -> Any:
    if response.status_code in (401, 403):
        raise StreamCoreError(
            f"StreamCore refused the request ({response.status_code}); set "
            "STREAMCORE_ADMIN_TOKEN to the server's admin token"
        )
    body = response.json()
    if response.is_error:
        message = body.get("message") if isinstance(body, dict) else None
        raise StreamCoreError(str(message or f"StreamCore answered {response.status_code}"))
    return body


def _describe(channel: dict[str, Any]) -> str:
    default = " (default)" if channel.get("default") else ""
    return (
        f"{channel['id']:<12} {channel['login']:<25} {channel['status']:<11} "
        f"added {channel['added_at']}{default}"
    )


def _list(args: argparse.Namespace, http: httpx.Client) -> int:
    channels = _answer(http.get("/channels"))
    if not channels:
        print("No channels yet. Authorize the first with `streamcore auth` or /tokens/link.")
    for channel in channels:
        print(_describe(channel))
    return 0


def _add(args: argparse.Namespace, http: httpx.Client) -> int:
    before = {c["id"] for c in _answer(http.get("/channels"))}
    started = _answer(http.post("/channels"))
    device = started["device"]
    print("Send the broadcaster one of these (each works once):")
    print(f"  a link to open:  {started['auth_url']}")
    print(f"  or a code:       {device['user_code']} at {device['verification_uri']}")
    if args.no_wait:
        return 0
    print("Waiting for the broadcaster to approve (Ctrl-C stops waiting)...", file=sys.stderr)
    deadline = time.monotonic() + ADD_WAIT_S
    while time.monotonic() < deadline:
        time.sleep(POLL_S)
        added = [c for c in _answer(http.get("/channels")) if c["id"] not in before]
        if added:
            for channel in added:
                print(f"Added {_describe(channel)}")
            return 0
    print("No broadcaster approved in time; run `streamcore channels add` again.")
    return 1


def _remove(args: argparse.Namespace, http: httpx.Client) -> int:
    from urllib.parse import quote

    removed = _answer(http.delete(f"/channels/{quote(args.login_or_id, safe='')}"))
    print(f"Removed {removed['login']} ({removed['id']}): token revoked, subscriptions stop.")
    return 0
