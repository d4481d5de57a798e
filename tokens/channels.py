"""The channels StreamCore serves: every broadcaster who authorized it, in the database.

A record per broadcaster id (namespace `channels`): id, login, display name, scopes, when it
was added and last authorized, and its status. The first authorized broadcaster is the default
channel, so a single-channel set-up behaves as before. Records are written when a token is
adopted (the OAuth callback, the device flow), never by a request naming a channel.

`resolve(login or id)` answers what `/ws/events?channel=` and key bindings name; lookups are
served from a copy refreshed at most every CACHE_S, so a thousand overlays connecting at once
cost one read of the store, not a thousand.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace

from cryptography.fernet import Fernet

from core.channels import ChannelTag
from core.settings import Settings
from db_infrastructure import Store
from tokens.errors import TokenError
from tokens.model import TokenSet
from tokens.oauth import TwitchOAuth
from tokens.vault import TokenVault

__all__ = ["ChannelRecord", "ChannelRegistry", "DefaultChannel", "UnknownChannel"]

logger = logging.getLogger("streamcore.tokens")

CHANNELS_NAMESPACE = "channels"
#: How long a lookup may use the previous read of the records.
CACHE_S = 2.0


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    id: str
    login: str
    display_name: str
    scopes: list[str] = field(default_factory=list)
    added_at: str = ""
    authorized_at: str = ""
    #: "authorized" or "revoked" (the broadcaster took StreamCore's access back).
    status: str = "authorized"
    #: "ok", or "invalid" when Twitch refused the token even after a refresh (hourly check).
    token_state: str = "ok"

    def tag(self) -> ChannelTag:
        return ChannelTag(self.id, self.login)

    def public(self) -> dict[str, object]:
        return asdict(self)


class UnknownChannel(TokenError):
    """No channel with that login or id authorized StreamCore."""


class DefaultChannel(TokenError):
    """The default channel's token is the one at /tokens (revoke it there)."""


class ChannelRegistry:
    """The channel records; with a cipher, also the other channels' tokens (encrypted)."""

    def __init__(self, store: Store, cipher: Fernet | Settings | None = None) -> None:
        self._store = store
        self._cipher = cipher
        self._cache: dict[str, ChannelRecord] | None = None
        self._read_at = 0.0

    def vault(self, channel_id: str) -> TokenVault:
        """Where a (non-default) channel's token is kept, encrypted."""
        return self._vault(channel_id)

    def _vault(self, channel_id: str) -> TokenVault:
        assert self._cipher is not None, "a registry without a cipher keeps no tokens"
        return TokenVault(self._store, self._cipher, key=f"channel:{channel_id}")

    async def add_with_token(self, token: TokenSet) -> ChannelRecord | None:
        """Another broadcaster authorized StreamCore: keep the token, record the channel."""
        if not token.user_id:
            return None
        await self._vault(token.user_id).save(token)
        return await self.record_authorized(token)

    async def remove(self, login_or_id: str, oauth: TwitchOAuth) -> ChannelRecord:
        """Revoke the channel's token at Twitch (best effort), delete it and the record; its
        subscriptions go with the coordinator's next reconciliation (no worker wants them)."""
        record = await self.resolve(login_or_id, fresh=True)
        if record is None:
            raise UnknownChannel(f"No channel {login_or_id!r}; `streamcore channels list`")
        default = await self.default()
        if default is not None and default.id == record.id:
            raise DefaultChannel(
                f"{record.login} is the default channel; revoke its token with DELETE /tokens"
            )
        vault = self._vault(record.id)
        token = await vault.load()
        if token is not None:
            try:
                await oauth.revoke(token.access_token)
            except TokenError as error:
                logger.warning("Could not revoke %s's token at Twitch: %s", record.login, error)
        await vault.delete()
        await self._store.delete(CHANNELS_NAMESPACE, record.id)
        self._cache = None
        logger.info("Removed channel %s (%s)", record.login, record.id)
        return record

    async def set_token_state(self, channel_id: str, state: str) -> None:
        record = await self._read(channel_id)
        if record is None or record.token_state == state:
            return
        updated = replace(record, token_state=state)
        await self._store.put(CHANNELS_NAMESPACE, record.id, json.dumps(updated.public()))
        self._cache = None

    async def mark_revoked(self, channel_id: str) -> ChannelRecord | None:
        """The broadcaster took StreamCore's access back (user.authorization.revoke)."""
        record = await self._read(channel_id)
        if record is None or record.status == "revoked":
            return record
        revoked = replace(record, status="revoked")
        await self._store.put(CHANNELS_NAMESPACE, record.id, json.dumps(revoked.public()))
        self._cache = None
        return revoked

    async def record_authorized(self, token: TokenSet) -> ChannelRecord | None:
        """Add or refresh the channel of a token just adopted (None without a user id)."""
        if not token.user_id:
            return None
        known = await self._read(token.user_id)
        now = _now_iso()
        login = token.login or (known.login if known else token.user_id)
        record = ChannelRecord(
            id=token.user_id,
            login=login,
            display_name=known.display_name if known else login,
            scopes=sorted(token.scopes),
            added_at=known.added_at if known else now,
            authorized_at=now,
        )
        await self._store.put(CHANNELS_NAMESPACE, record.id, json.dumps(record.public()))
        self._cache = None
        return record

    async def ensure_recorded(self, token: TokenSet) -> None:
        """Record the channel of a stored token unless it is known already."""
        if token.user_id and await self._read(token.user_id) is None:
            await self.record_authorized(token)

    async def list(self) -> list[ChannelRecord]:
        """Every channel, the default (first added) first."""
        records = await self._all(fresh=True)
        return sorted(records.values(), key=lambda r: (r.added_at, r.login))

    async def default(self) -> ChannelRecord | None:
        records = await self.list()
        return records[0] if records else None

    async def resolve(self, login_or_id: str, fresh: bool = False) -> ChannelRecord | None:
        """The channel with that id or login (case-insensitive), or None."""
        records = await self._all(fresh)
        wanted = login_or_id.strip()
        found = records.get(wanted)
        if found is not None:
            return found
        lower = wanted.lower()
        return next((r for r in records.values() if r.login.lower() == lower), None)

    async def _read(self, channel_id: str) -> ChannelRecord | None:
        raw = await self._store.get(CHANNELS_NAMESPACE, channel_id)
        return None if raw is None else _parse(raw)

    async def _all(self, fresh: bool = False) -> dict[str, ChannelRecord]:
        if fresh or self._cache is None or time.monotonic() - self._read_at > CACHE_S:
            items = await self._store.items(CHANNELS_NAMESPACE)
            parsed = (_parse(raw) for raw in items.values())
            self._cache = {r.id: r for r in parsed if r is not None}
            self._read_at = time.monotonic()
        return self._cache


def _parse(raw: str) -> ChannelRecord | None:
    try:
        return ChannelRecord(**json.loads(raw))
    except (ValueError, TypeError):
        return None
