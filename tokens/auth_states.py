"""Single-use OAuth `state` values, kept in the store so that any replica can take the
callback of a link another replica made.

Twitch sends the `state` of the authorization link back to the redirect URI unchanged; the
callback is accepted only if that value is one we issued, unexpired and unused, which stops
a forged callback from planting another account's token.
https://dev.twitch.tv/docs/authentication/getting-tokens-oauth/#authorization-code-grant-flow
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Callable, Sequence
from typing import Literal

from db_infrastructure.base import Store
from tokens.constants import STATE_NAMESPACE, STATE_TTL_S
from tokens.errors import InvalidOAuthState
from tokens.identities import ROLES

#: What an authorization is for: the default channel's token, another channel, or the bot or
#: moderator account (tokens.identities).
Purpose = Literal["main", "channel", "bot", "moderator"]
_PURPOSES = ("main", "channel", *ROLES)


class AuthStates:
    """Make a state for a link (`new`, `remember`), accept it back once (`take`)."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    @staticmethod
    def new() -> str:
        """A fresh unguessable state; valid once `remember`ed."""
        return secrets.token_urlsafe(32)

    async def remember(self, state: str, purpose: Purpose, scopes: Sequence[str]) -> None:
        """Accept `state` back within STATE_TTL_S, once, as a link for `purpose`."""
        record = json.dumps(
            {"scopes": list(scopes), "created_at": self._clock(), "purpose": purpose}
        )
        await self._store.put(STATE_NAMESPACE, state, record, ttl_s=STATE_TTL_S)

    async def take(self, state: str | None) -> Purpose:
        """Accept a callback's `state` once (its purpose); raise InvalidOAuthState otherwise."""
        record = await self._store.take(STATE_NAMESPACE, state) if state else None
        if record is None:
            raise InvalidOAuthState(
                "This authorization link is unknown, expired or was already used; nothing was "
                "stored. Start again at /tokens/link (links work once, for 10 minutes)."
            )
        with contextlib.suppress(ValueError, AttributeError):
            purpose = json.loads(record).get("purpose")
            if purpose in _PURPOSES:
                return purpose
        return "main"
