"""`streamcore keys create|list|revoke`: client keys for WS /ws/events.

The keys go where the server that will check them keeps them. With a StreamCore running here
(`streamcore run`, or `streamcore demo` in its own data directory; see cli/target.py) the
command asks that server (`/keys`), which also closes a revoked key's open connections on its
own bus; with `--url` it asks that one. Otherwise it works on the configured store directly.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from core.errors import StreamCoreError

if TYPE_CHECKING:
    import httpx

    from cli.target import Target
    from core.settings import Settings
    from db_infrastructure.base import Store
    from events.keys import ClientKeys, KeyRecord


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("keys", help="manage client keys for overlays and devices")
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--url",
        help="the StreamCore whose keys to manage (default: the running `streamcore run` or "
        "demo, else the configured store)",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", parents=[where], help="create a key (shown once)")
    create.add_argument("--name", required=True, help="a label, e.g. obs or esp32")
    create.add_argument(
        "--events", default="", help="restrict to these events, e.g. follow,chat or alert.*"
    )
    create.set_defaults(func=_command(_create_remote, lambda a: _create(a.name, a.events)))
    listing = actions.add_parser(
        "list", parents=[where], help="list keys (never the keys themselves)"
    )
    listing.set_defaults(func=_command(_list_remote, lambda a: _list()))
    revoke = actions.add_parser("revoke", parents=[where], help="revoke a key by name or id")
    revoke.add_argument("name_or_id")
    revoke.set_defaults(func=_command(_revoke_remote, lambda a: _revoke(a.name_or_id)))


def _command(
    remote: Callable[[argparse.Namespace, httpx.Client, str], int],
    local: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    """Run the action against the running StreamCore if there is one, else on the store."""

    def run(args: argparse.Namespace) -> int:
        import httpx

        from cli.target import admin_headers, keys_target
        from core.settings import load_settings

        settings = load_settings()
        target = keys_target(settings, args.url)
        if target.url is None:
            _say_store(settings, target)
            return _run(local(args))
        target.say()
        with httpx.Client(headers=admin_headers(settings), timeout=10) as client:
            try:
                return remote(args, client, target.url)
            except httpx.HTTPError:
                raise StreamCoreError(
                    f"No StreamCore answers at {target.url}; start it, or pass --url"
                ) from None

    return run


def _say_store(settings: Settings, target: Target) -> None:
    where = (
        "PostgreSQL" if settings.postgres_dsn is not None else f"SQLite at {settings.sqlite_path}"
    )
    print(
        f"No StreamCore is running here; using the store directly: {where}{target.hint()}.",
        file=sys.stderr,
    )


def _run(action: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(action)


# -- through a running StreamCore (its /keys endpoints) -----------------------------------------


def _answer(response: httpx.Response, url: str) -> Any:
    if response.status_code in (401, 403):
        raise StreamCoreError(
            f"{url} refused the request ({response.status_code}); set STREAMCORE_ADMIN_TOKEN to "
            "the server's admin token"
        )
    if response.is_error:
        try:
            detail = response.json()["detail"]
        except (ValueError, KeyError, TypeError):
            detail = f"{url} answered {response.status_code}"
        raise StreamCoreError(str(detail))
    return response.json()


def _create_remote(args: argparse.Namespace, client: httpx.Client, url: str) -> int:
    from events.keys import KeyRecord

    body = {"name": args.name, "events": args.events}
    created = _answer(client.post(f"{url}/keys", json=body), url)
    record = KeyRecord(
        id=created["id"],
        name=created["name"],
        events=created["events"],
        created_at=created["created_at"],
    )
    ws_url = "ws" + url.removeprefix("http")
    _print_created(created["key"], record, f"{ws_url}/ws/events?key={created['key']}")
    print(f"Alert overlay: {url}/overlays/alerts.html?key={created['key']}")
    return 0


def _list_remote(args: argparse.Namespace, client: httpx.Client, url: str) -> int:
    from events.keys import KeyRecord

    records = [KeyRecord(**item) for item in _answer(client.get(f"{url}/keys"), url)]
    _print_records(records)
    return 0


def _revoke_remote(args: argparse.Namespace, client: httpx.Client, url: str) -> int:
    from urllib.parse import quote

    from events.keys import KeyRecord

    revoked = _answer(client.delete(f"{url}/keys/{quote(args.name_or_id, safe='')}"), url)
    _print_revoked(KeyRecord(**revoked))
    return 0


# -- on the configured store (no StreamCore running) ---------------------------------------------


async def _with_keys() -> tuple[ClientKeys, Store]:
    from core.settings import load_settings
    from db_infrastructure import create_store
    from events.keys import ClientKeys

    store = create_store(load_settings())
    await store.connect()
    return ClientKeys(store), store


def _describe(record: KeyRecord) -> str:
    return (
        f"{record.id}  {record.name:<20} {record.events or '(all events)':<30} {record.created_at}"
    )


async def _create(name: str, events: str) -> int:
    keys, store = await _with_keys()
    try:
        key, record = await keys.create(name, events)
    finally:
        await store.close()
    _print_created(key, record, f"ws://HOST:PORT/ws/events?key={key}")
    return 0


async def _list() -> int:
    keys, store = await _with_keys()
    try:
        records = await keys.list()
    finally:
        await store.close()
    _print_records(records)
    return 0


async def _revoke(name_or_id: str) -> int:
    from app.services import open_backends
    from core.settings import load_settings
    from events.keys import ClientKeys, revoke_everywhere

    async with open_backends(load_settings()) as (bus, store):
        record = await revoke_everywhere(ClientKeys(store), bus, name_or_id)
    _print_revoked(record)
    return 0


# -- output ---------------------------------------------------------------------------------------


def _print_created(key: str, record: KeyRecord, use: str) -> None:
    print(f"Created key {record.name!r} (id {record.id}) for {record.events or 'all events'}.")
    print("Copy it now; it is not shown again:")
    print(key)
    print(f"Use it as: {use}")


def _print_records(records: list[KeyRecord]) -> None:
    if not records:
        print("No client keys. Create one with `streamcore keys create --name obs`.")
    for record in records:
        print(_describe(record))


def _print_revoked(record: KeyRecord) -> None:
    print(
        f"Revoked key {record.name!r} (id {record.id}); its open connections are closed and "
        "new ones refused."
    )
