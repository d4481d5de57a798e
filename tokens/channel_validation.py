"""Hourly validation of the channels' tokens, spread over the hour, on the coordinator only.

Twitch asks apps to validate every token hourly (https://dev.twitch.tv/docs/authentication/
validate-tokens/). With a thousand channels, validating them all at once every hour would be
a burst of a thousand calls; here one pass walks the channels one by one, VALIDATE_INTERVAL_S
divided by their number apart, so the calls are evenly spread and each token is seen once an
hour. A token Twitch no longer accepts is refreshed once (ChannelToken, single-flight across
replicas); if that fails too, that channel alone is marked `token_state: invalid` (shown in
GET /channels and the dashboard), and a later success marks it `ok` again. The bot and
moderator accounts (tokens.identities) are validated in the same passes, their state shown in
GET /tokens under `accounts`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tokens.channel_tokens import ChannelToken
from tokens.channels import ChannelRecord, ChannelRegistry
from tokens.constants import VALIDATE_INTERVAL_S
from tokens.errors import TokenError
from tokens.identities import Identities
from tokens.oauth import TwitchOAuth

logger = logging.getLogger("streamcore.tokens")

#: The shortest gap between two validations (a few channels still wait this long).
MIN_GAP_S = 1.0


class ChannelValidation:
    def __init__(
        self,
        registry: ChannelRegistry,
        oauth: TwitchOAuth,
        token_for: Callable[[str], ChannelToken],
        default_id: Callable[[], str | None],
        interval_s: float = VALIDATE_INTERVAL_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        identities: Identities | None = None,
        account_token: Callable[[str], Awaitable[ChannelToken | None]] | None = None,
    ) -> None:
        self._registry = registry
        self._oauth = oauth
        self._token_for = token_for
        self._default_id = default_id
        self._interval_s = interval_s
        self._sleep = sleep
        self._identities = identities
        self._account_token = account_token
        self.validated = 0
        self.failed = 0

    async def run(self) -> None:
        """Pass after pass until cancelled (the default channel is TokenManager's own)."""
        while True:
            channels = await self._channels()
            accounts = await self._accounts()
            if not channels and not accounts:
                await self._sleep(self._interval_s / 10)
                continue
            gap = max(MIN_GAP_S, self._interval_s / (len(channels) + len(accounts)))
            for record in channels:
                await self._sleep(gap)
                await self.validate(record)
            for role in accounts:
                await self._sleep(gap)
                await self.validate_account(role)

    async def _accounts(self) -> list[str]:
        if self._identities is None:
            return []
        try:
            return sorted(await self._identities.all(fresh=True))
        except Exception as error:  # a store outage: try again next pass
            logger.warning("Could not list the bot and moderator accounts (%s)", error)
            return []

    async def validate_account(self, role: str) -> bool:
        """The same check for the bot or moderator account; its state goes to its record."""
        if self._identities is None or self._account_token is None:
            return False
        source = await self._account_token(role)
        if source is None:
            return False
        problem = await self._check(source)
        if problem is not None:
            logger.warning(
                "The %s account's token is invalid (%s): authorize it again at "
                "/tokens/link?account=%s",
                role,
                problem,
                role,
            )
        await self._identities.set_token_state(role, "ok" if problem is None else "invalid")
        return problem is None

    async def _channels(self) -> list[ChannelRecord]:
        try:
            records = await self._registry.list()
        except Exception as error:  # a store outage: try again next pass
            logger.warning("Could not list the channels to validate (%s)", error)
            return []
        default = self._default_id()
        return [r for r in records if r.status == "authorized" and r.id != default]

    async def validate(self, record: ChannelRecord) -> bool:
        """Validate (refreshing once if refused) and record the channel's token state."""
        problem = await self._check(self._token_for(record.id))
        if problem is not None:
            if record.token_state != "invalid":
                logger.warning("Channel %s: token invalid (%s)", record.login, problem)
            await self._registry.set_token_state(record.id, "invalid")
            return False
        if record.token_state != "ok":
            await self._registry.set_token_state(record.id, "ok")
        return True

    async def _check(self, source: ChannelToken) -> str | None:
        """None when Twitch accepts the token (refreshed once if it did not), else why not."""
        try:
            access = await source.access_token()
            if await self._oauth.validate(access) is None:
                access = await source.refresh(after_401_with=access)
                if await self._oauth.validate(access) is None:
                    raise TokenError("Twitch refuses the token even after a refresh")
        except TokenError as error:
            self.failed += 1
            return str(error)
        self.validated += 1
        return None
