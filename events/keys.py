"""Client keys: who may open `WS /ws/events`, and which events each key may receive.

A key is `sck_` + 256 random bits (url-safe base64), shown once at creation. The store keeps
only its sha256 (a slow hash adds nothing for a 256-bit random secret) under the namespace
`client_keys`, with a `KeyRecord` as JSON: name, scope (a filter, see events.filters), the
channels it is bound to (broadcaster ids, or `*` for an operator's key: every channel), creation
time and a short public id (the first hash characters) for listing and revoking. Revoking
deletes the record, so the next connection with that key is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from dataclasses import asdict, dataclass

from bus import Bus, BusError
from core.constants import KEY_REVOKED_CHANNEL
from db_infrastructure.base import Store
from events.constants import CLIENT_KEY_BYTES, CLIENT_KEY_PREFIX, CLIENT_KEYS_NAMESPACE
from events.errors import ClientKeyError, KeyNameTaken, UnknownKey
from events.filters import EventFilter
from events.publisher import now_iso

logger = logging.getLogger("streamcore.events")

__all__ = ["ALL_CHANNELS", "ClientKeys", "KeyRecord", "hash_key"]

_NAME = re.compile(r"^[A-Za-z0-9._ -]{1,64}$")
ALL_CHANNELS = "*"
#: Longest key we hash; anything longer is refused before hashing (no work for garbage).
_MAX_KEY_LENGTH = 200


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What the store keeps about a key (never the key itself)."""

    id: str
    name: str
    events: str
    created_at: str
    #: Comma-separated channel ids the key may receive, or "*" (every channel; keys made
    #: before channels existed).
    channels: str = ALL_CHANNELS
    #: Patterns of the actions it may call (event-filter syntax); "" (the default): none.
    actions: str = ""

    @property
    def scope(self) -> EventFilter:
        return EventFilter.parse(self.events)

    @property
    def channel_ids(self) -> frozenset[str] | None:
        """The channels it is bound to; None for every channel."""
        if self.channels == ALL_CHANNELS:
            return None
        return frozenset(c for c in self.channels.split(",") if c)

    def public(self) -> dict[str, str]:
        return asdict(self)


class ClientKeys:
    """Create, list, revoke and verify client keys in a Store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def create(
        self,
        name: str,
        events: str = "",
        channels: frozenset[str] | None = None,
        actions: str = "",
    ) -> tuple[str, KeyRecord]:
        """A new key and its record; the key is returned here and never again. `channels`:
        the channel ids it is bound to (None: every channel)."""
        if not _NAME.match(name):
            raise ClientKeyError(
                f"Invalid key name {name[:70]!r}: use 1-64 letters, digits, spaces, '.', '_' or '-'"
            )
        scope = EventFilter.parse(events)
        if any(record.name == name for record in await self.list()):
            raise KeyNameTaken(f"A key named {name!r} exists: revoke it first or pick another name")
        key = CLIENT_KEY_PREFIX + secrets.token_urlsafe(CLIENT_KEY_BYTES)
        digest = hash_key(key)
        bound = ALL_CHANNELS if channels is None else ",".join(sorted(channels))
        callable_actions = str(EventFilter.parse(actions)) if actions.strip() else ""
        record = KeyRecord(
            id=digest[:12],
            name=name,
            events=str(scope),
            created_at=now_iso(),
            channels=bound,
            actions=callable_actions,
        )
        await self._store.put(CLIENT_KEYS_NAMESPACE, digest, json.dumps(record.public()))
        return key, record

    async def list(self) -> list[KeyRecord]:
        items = await self._store.items(CLIENT_KEYS_NAMESPACE)
        records = [KeyRecord(**json.loads(value)) for value in items.values()]
        return sorted(records, key=lambda record: (record.created_at, record.name))

    async def revoke(self, name_or_id: str) -> KeyRecord:
        """Delete the key with that name or id; UnknownKey when none matches."""
        items = await self._store.items(CLIENT_KEYS_NAMESPACE)
        for digest, value in items.items():
            record = KeyRecord(**json.loads(value))
            if name_or_id in (record.name, record.id):
                await self._store.delete(CLIENT_KEYS_NAMESPACE, digest)
                return record
        raise UnknownKey(f"No client key named {name_or_id!r}; `streamcore keys list` shows them")

    async def active_ids(self) -> set[str]:
        return {record.id for record in await self.list()}

    async def verify(self, key: str | None) -> KeyRecord | None:
        """The record of a valid key, or None for a missing, unknown or revoked one."""
        if not key or len(key) > _MAX_KEY_LENGTH or not key.startswith(CLIENT_KEY_PREFIX):
            return None
        value = await self._store.get(CLIENT_KEYS_NAMESPACE, hash_key(key))
        return None if value is None else KeyRecord(**json.loads(value))


async def revoke_everywhere(keys: ClientKeys, bus: Bus, name_or_id: str) -> KeyRecord:
    """Revoke the key, then tell every StreamCore process (KEY_REVOKED_CHANNEL) to close its
    connections now. The revocation stands even if the notice cannot be sent: each process
    also re-checks its clients' keys (events.broadcaster.Broadcaster.recheck_keys)."""
    record = await keys.revoke(name_or_id)
    try:
        await bus.publish(KEY_REVOKED_CHANNEL, record.id)
    except BusError as error:
        logger.warning(
            "Key %s revoked; open connections close at the next re-check (%s)", record.name, error
        )
    return record
