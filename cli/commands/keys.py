"""`streamcore keys create|list|revoke`: client keys for WS /ws/events, in the configured store."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Coroutine
from typing import Any

from db_infrastructure.base import Store
from events.keys import ClientKeys, KeyRecord


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("keys", help="manage client keys for overlays and devices")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a key (shown once)")
    create.add_argument("--name", required=True, help="a label, e.g. obs or esp32")
    create.add_argument(
        "--events", default="", help="restrict to these events, e.g. follow,chat or alert.*"
    )
    create.set_defaults(func=lambda args: _run(_create(args.name, args.events)))
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    listing.set_defaults(func=lambda args: _run(_list()))
    revoke = actions.add_parser("revoke", help="revoke a key by name or id")
    revoke.add_argument("name_or_id")
    revoke.set_defaults(func=lambda args: _run(_revoke(args.name_or_id)))


def _run(action: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(action)


async def _with_keys() -> tuple[ClientKeys, Store]:
    from core.settings import load_settings
    from db_infrastructure import create_store

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
    print(f"Created key {record.name!r} (id {record.id}) for {record.events or 'all events'}.")
    print("Copy it now; it is not shown again:")
    print(key)
    print(f"Use it as: ws://HOST:PORT/ws/events?key={key}")
    return 0


async def _list() -> int:
    keys, store = await _with_keys()
    try:
        records = await keys.list()
    finally:
        await store.close()
    if not records:
        print("No client keys. Create one with `streamcore keys create --name obs`.")
    for record in records:
        print(_describe(record))
    return 0


async def _revoke(name_or_id: str) -> int:
    from app.services import open_backends
    from core.settings import load_settings
    from events.keys import revoke_everywhere

    async with open_backends(load_settings()) as (bus, store):
        record = await revoke_everywhere(ClientKeys(store), bus, name_or_id)
    print(
        f"Revoked key {record.name!r} (id {record.id}); its open connections are closed and "
        "new ones refused."
    )
    return 0
