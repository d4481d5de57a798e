"""Accounts that act besides the broadcaster: a chat bot, and a moderator.

Twitch lets an app act as any user who authorized it, within the scopes that user granted
(https://dev.twitch.tv/docs/authentication/scopes/). Two such accounts matter to a channel:

- **bot**: a separate account that chats for the channel (`chat.send`, command replies). It
  grants `user:bot`, `user:read:chat` and `user:write:chat`; the broadcaster grants
  `channel:bot`, or makes the bot a moderator
  (https://dev.twitch.tv/docs/api/reference/#send-chat-message).
- **moderator**: a real moderator of the channel, so conditions with `moderator_user_id`
  (follows, shoutouts) and moderator actions (announcements, shoutouts) need not use the
  broadcaster's own id.

Each one is a record (user id, login, scopes, when) in the store and a token encrypted like
the channels' ones (`identity:<role>` in the token vault). Lookups use a copy refreshed at most
every CACHE_S, so every replica sees a bot set on another one within seconds.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Literal, get_args

from cryptography.fernet import Fernet

from core.settings import Settings
from db_infrastructure import Store
from tokens.errors import TokenError
from tokens.model import TokenSet
from tokens.oauth import TwitchOAuth
from tokens.vault import TokenVault

__all__ = ["ROLE_SCOPES", "Identities", "Identity", "Role", "UnknownRole"]

logger = logging.getLogger("streamcore.tokens")

Role = Literal["bot", "moderator"]
ROLES: tuple[str, ...] = get_args(Role)
IDENTITIES_NAMESPACE = "identities"
CACHE_S = 2.0

#: What each account is asked to grant. The moderator's are what moderator conditions and
#: the moderator actions need (https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/).
ROLE_SCOPES: dict[str, list[str]] = {
    "bot": ["user:bot", "user:read:chat", "user:write:chat"],
    "moderator": [
        "moderator:manage:announcements",
        "moderator:manage:shoutouts",
        "moderator:read:chatters",
        "moderator:read:followers",
        "user:bot",
        "user:read:chat",
        "user:write:chat",
    ],
}


class UnknownRole(TokenError):
    """A role other than bot or moderator, or one that is not set."""


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise UnknownRole(f"Unknown account role {role!r}: use one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Identity:
    role: str
    user_id: str
    login: str
    scopes: list[str] = field(default_factory=list)
    authorized_at: str = ""
    #: "ok", or "invalid" once Twitch refuses the token even after a refresh (the hourly
    #: validation, tokens.channel_validation): authorize the account again.
    token_state: str = "ok"

    def public(self) -> dict[str, object]:
        return asdict(self)


class Identities:
    """The bot and moderator accounts (see the module docstring)."""

    def __init__(self, store: Store, cipher: Fernet | Settings) -> None:
        self._store = store
        self._cipher = cipher
        self._cache: dict[str, Identity] | None = None
        self._read_at = 0.0

    def vault(self, role: str) -> TokenVault:
        return TokenVault(self._store, self._cipher, key=f"identity:{check_role(role)}")

    async def save(self, role: str, token: TokenSet) -> Identity:
        """Keep the token of the account that just authorized as `role`."""
        check_role(role)
        if not token.user_id:
            raise TokenError("Twitch did not say who authorized; nothing was stored. Try again.")
        await self.vault(role).save(token)
        identity = Identity(
            role=role,
            user_id=token.user_id,
            login=token.login or token.user_id,
            scopes=sorted(token.scopes),
            authorized_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        await self._store.put(IDENTITIES_NAMESPACE, role, json.dumps(identity.public()))
        await self.all(fresh=True)  # this replica sees the change at once
        logger.info("The %s account is now %s (scopes: %s)", role, identity.login,
                    " ".join(identity.scopes))  # fmt: skip
        return identity

    async def remove(self, role: str, oauth: TwitchOAuth) -> Identity:
        """Revoke the account's token at Twitch (best effort) and forget it."""
        identity = await self.get(check_role(role), fresh=True)
        if identity is None:
            raise UnknownRole(f"No {role} account is set")
        vault = self.vault(role)
        token = await vault.load()
        if token is not None:
            try:
                await oauth.revoke(token.access_token)
            except TokenError as error:
                logger.warning("Could not revoke the %s token at Twitch: %s", role, error)
        await vault.delete()
        await self._store.delete(IDENTITIES_NAMESPACE, role)
        await self.all(fresh=True)  # this replica sees the change at once
        logger.info("Removed the %s account %s", role, identity.login)
        return identity

    async def set_token_state(self, role: str, state: str) -> None:
        identity = await self.get(role, fresh=True)
        if identity is None or identity.token_state == state:
            return
        updated = replace(identity, token_state=state)
        await self._store.put(IDENTITIES_NAMESPACE, role, json.dumps(updated.public()))
        await self.all(fresh=True)

    async def get(self, role: str, fresh: bool = False) -> Identity | None:
        return (await self.all(fresh)).get(role)

    async def all(self, fresh: bool = False) -> dict[str, Identity]:
        if fresh or self._cache is None or time.monotonic() - self._read_at > CACHE_S:
            items = await self._store.items(IDENTITIES_NAMESPACE)
            parsed = (_parse(raw) for raw in items.values())
            self._cache = {i.role: i for i in parsed if i is not None}
            self._read_at = time.monotonic()
        return self._cache

    def cached(self, role: str) -> Identity | None:
        """The last read (no I/O), for synchronous callers such as subscription planning."""
        return (self._cache or {}).get(role)


def _parse(raw: str) -> Identity | None:
    try:
        return Identity(**json.loads(raw))
    except (ValueError, TypeError):
        return None
