"""The tokens of the channels other than the default one, for workers acting for them.

A worker handling a channel's event calls Helix as that channel (`self.twitch`), so each
channel has a `ChannelToken` (a TokenSource: its encrypted token from the channel vault,
refreshed REFRESH_AHEAD_S before it expires or after a 401) and a HelixClient of its own (its
own rate-limit bucket, as Twitch counts per user). Refreshes are single-flight per channel
across replicas (a bus lock per channel: Twitch rotates refresh tokens, so two replicas
refreshing at once would leave one with a dead token); another replica's refresh is picked up
from the store. A channel whose token is gone or refused fails alone: its worker calls raise
AuthRequired naming that channel, and no other channel is touched.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

import httpx

from bus import Bus
from core.settings import Settings
from tokens.constants import (
    HTTP_TIMEOUT_S,
    REFRESH_AHEAD_S,
    REFRESH_LOCK_POLL_S,
    REFRESH_LOCK_TTL_S,
)
from tokens.errors import AuthRequired, OAuthError, TwitchUnreachable
from tokens.helix import HelixClient
from tokens.manager import TokenManager
from tokens.model import TokenSet

__all__ = ["ChannelClients", "ChannelToken"]

#: Channels whose Helix clients are kept at once (least recently used ones are dropped).
MAX_CLIENTS = 1024
REFRESH_LOCK = "lock:token-refresh:channel:{channel}"


class ChannelToken:
    """A TokenSource for one channel (see the module docstring)."""

    def __init__(
        self,
        tokens: TokenManager,
        bus: Bus,
        channel_id: str,
        clock: Callable[[], float],
        account: str | None = None,
    ) -> None:
        """`channel_id` is the token's user; `account` ("bot", "moderator") keeps the token in
        that account's vault (tokens.identities) instead of the channel's."""
        self._tokens = tokens
        self._bus = bus
        # Who the token is, in errors; what fixes a dead one; its refresh lock's name.
        if account is None:
            self._vault = tokens.channels.vault(channel_id)
            self._who = f"channel {channel_id}"
            self._fix = "add the channel again (`streamcore channels add`)"
            self._lock_name = channel_id
        else:
            self._vault = tokens.identities.vault(account)
            self._who = f"the {account} account"
            self._fix = f"authorize it again at /tokens/link?account={account}"
            self._lock_name = f"{account}:{channel_id}"
        self._channel_id = channel_id
        self._clock = clock
        self._token: TokenSet | None = None
        self._lock = asyncio.Lock()
        self._owner = secrets.token_hex(8)

    @property
    def user_id(self) -> str | None:
        return self._channel_id

    async def access_token(self) -> str:
        token = self._token or await self._load()
        expires_at = token.expires_at
        if expires_at is not None and expires_at - self._clock() < REFRESH_AHEAD_S:
            return await self.refresh(after_401_with=token.access_token)
        return token.access_token

    async def refresh(self, after_401_with: str | None = None) -> str:
        async with self._lock:
            token = self._token or await self._load()
            if after_401_with is not None and token.access_token != after_401_with:
                return token.access_token  # refreshed meanwhile in this process
            return await self._refresh_across_processes(token.access_token)

    async def _load(self) -> TokenSet:
        token = await self._vault.load()
        if token is None:
            raise AuthRequired(f"{self._who} has no token: {self._fix}")
        self._token = token
        return token

    async def _refresh_across_processes(self, stale: str) -> str:
        lock = REFRESH_LOCK.format(channel=self._lock_name)
        deadline = time.monotonic() + REFRESH_LOCK_TTL_S + HTTP_TIMEOUT_S
        while not await self._bus.set_if_absent(lock, self._owner, REFRESH_LOCK_TTL_S):
            stored = await self._load()
            if stored.access_token != stale:
                return stored.access_token  # the lock holder refreshed it
            if time.monotonic() > deadline:
                raise TwitchUnreachable(
                    f"another process has been refreshing {self._who}'s token for too long; "
                    "retry shortly"
                )
            await asyncio.sleep(REFRESH_LOCK_POLL_S)
        try:
            stored = await self._load()
            if stored.access_token != stale:
                return stored.access_token
            if not stored.refresh_token:
                raise AuthRequired(f"{self._who}'s token cannot be refreshed: {self._fix}")
            try:
                grant = await self._tokens.oauth.refresh(stored.refresh_token)
            except OAuthError as error:
                raise AuthRequired(
                    f"Twitch refused to refresh {self._who}'s token ({error.message}): {self._fix}"
                ) from None
            token = stored.rotated(grant, self._clock())
            await self._vault.save(token)
            self._token = token
            return token.access_token
        finally:
            await self._bus.delete_key(lock)


class ChannelClients:
    """Helix clients per channel; the default channel's is the one workers already have."""

    def __init__(
        self,
        settings: Settings,
        tokens: TokenManager,
        bus: Bus,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._bus = bus
        self._http = http
        self._clock = clock
        self._clients: OrderedDict[str, HelixClient] = OrderedDict()
        self._sources: OrderedDict[str, ChannelToken] = OrderedDict()

    def default_id(self) -> str | None:
        """The default channel (its state and token are the single-channel ones)."""
        return self._tokens.user_id

    def token(self, channel_id: str) -> ChannelToken:
        """The channel's token source (one per channel, so refreshes are single-flight)."""
        source = self._sources.get(channel_id)
        if source is None:
            source = ChannelToken(self._tokens, self._bus, channel_id, self._clock)
            self._sources[channel_id] = source
            if len(self._sources) > MAX_CLIENTS:
                self._sources.popitem(last=False)
        self._sources.move_to_end(channel_id)
        return source

    async def account_token(self, role: str) -> ChannelToken | None:
        """The token source of the bot or moderator account (tokens.identities), or None when
        that account is not set. It refreshes like a channel's, single-flight."""
        identity = await self._tokens.identities.get(role)
        if identity is None:
            return None
        key = f"{role}:{identity.user_id}"  # a new account for the role gets a new source
        source = self._sources.get(key)
        if source is None:
            source = ChannelToken(self._tokens, self._bus, identity.user_id, self._clock, role)
            self._sources[key] = source
        self._sources.move_to_end(key)
        return source

    async def for_account(self, role: str) -> HelixClient | None:
        """The Helix client of the bot or moderator account, or None when it is not set."""
        source = await self.account_token(role)
        if source is None:
            return None
        key = f"{role}:{source.user_id}"
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = HelixClient(self._settings, source, self._http)
        self._clients.move_to_end(key)
        return client

    def for_channel(self, channel_id: str) -> HelixClient:
        client = self._clients.get(channel_id)
        if client is None:
            client = HelixClient(self._settings, self.token(channel_id), self._http)
            self._clients[channel_id] = client
            if len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)
        self._clients.move_to_end(channel_id)
        return client
