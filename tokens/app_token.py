"""The app access token (client-credentials grant), which conduits and their subscriptions need.

Twitch requires an app access token for everything about conduits: creating one, assigning
shards and creating conduit subscriptions
(https://dev.twitch.tv/docs/authentication/getting-tokens-oauth/#client-credentials-grant-flow,
https://dev.twitch.tv/docs/eventsub/handling-conduit-events/). It needs TWITCH_CLIENT_SECRET,
carries no user and no refresh token, and is simply fetched again when it nears expiry or a
call answers 401. Each process fetches its own and keeps it in memory only: it is cheap to
get, and never storing it means it is never at rest anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx

from core.settings import Settings
from tokens.oauth import TwitchOAuth, require_client_id, require_client_secret

__all__ = ["AppTokens"]

logger = logging.getLogger("streamcore.tokens")

#: Fetch a new token this long before the current one expires.
RENEW_BEFORE_S = 300.0


class AppTokens:
    """`access_token()` and `refresh()`, as HelixClient expects of a token source."""

    #: An app token acts for no user.
    user_id: str | None = None

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._oauth = TwitchOAuth(settings, http)
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def access_token(self) -> str:
        if self._token is not None and self._clock() < self._expires_at - RENEW_BEFORE_S:
            return self._token
        return await self.refresh(self._token)

    async def refresh(self, after_401_with: str | None = None) -> str:
        """A new token, fetched once however many callers ask at the same time."""
        async with self._lock:
            if self._token is not None and self._token != after_401_with:
                return self._token  # another caller already replaced it
            grant = await self._oauth.app_token(
                require_client_id(self._settings), require_client_secret(self._settings)
            )
            self._token = grant.access_token
            # Twitch answers expires_in for app tokens; if it ever does not, renew hourly.
            lifetime = grant.expires_in or 3600
            self._expires_at = self._clock() + lifetime
            logger.info("Fetched an app access token (expires in %d s)", lifetime)
            return self._token
