"""The webhook secret: what Twitch signs every webhook message with, kept encrypted at rest.

TWITCH_EVENTSUB_SECRET sets it; when unset, one is generated once and stored (encrypted like
the user token, with TOKEN_ENCRYPTION_KEY or the data dir's key file), so every replica and
every restart signs with the same one. Twitch wants 10 to 100 ASCII characters
(https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message).

Rotation: set TWITCH_EVENTSUB_SECRET to a new value and restart. The stored secret becomes the
previous one, which the callback keeps accepting while the coordinator creates every
subscription again with the new secret (on a callback URL that names the secret's version, so
Twitch sees new subscriptions, not duplicates) and deletes the old ones once the new ones are
enabled; then the previous secret is forgotten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass

from cryptography.fernet import InvalidToken

from core.logging import add_secret
from core.settings import Settings
from db_infrastructure import Store
from tokens.vault import load_cipher

logger = logging.getLogger("streamcore.tokens")

NAMESPACE, KEY = "eventsub", "webhook_secret"
#: Generated secrets: 64 URL-safe characters, inside Twitch's 10 to 100.
GENERATED_LENGTH = 64


def secret_version(secret: str) -> str:
    """A short public name for a secret (in callback URLs): a hash prefix, never the secret."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class WebhookSecret:
    current: str
    #: The secret before a rotation, accepted until the old subscriptions are gone.
    previous: str | None = None

    @property
    def version(self) -> str:
        return secret_version(self.current)

    def accepted(self) -> tuple[bytes, ...]:
        keys = (self.current,) if self.previous is None else (self.current, self.previous)
        return tuple(key.encode() for key in keys)


class WebhookSecrets:
    def __init__(self, settings: Settings, store: Store) -> None:
        self._settings = settings
        self._store = store

    async def load(self) -> WebhookSecret:
        """The secret to sign with (and the previous one during a rotation)."""
        stored = await self._read()
        configured = self._settings.twitch_eventsub_secret
        wanted = configured.get_secret_value() if configured is not None else None
        if stored is not None and (wanted is None or wanted == stored.current):
            return self._known(stored)
        if wanted is None:
            wanted = secrets.token_urlsafe(48)[:GENERATED_LENGTH]
        secret = WebhookSecret(wanted, stored.current if stored is not None else None)
        await self._write(secret)
        if configured is None:
            # Replicas starting together may each generate one; the last write wins, and
            # every replica signs and checks with what is stored (`stored()` re-reads it).
            written = await self._read()
            if written is not None:
                return self._known(written)
        return self._known(secret)

    async def stored(self) -> WebhookSecret | None:
        """What the store holds now (another replica may have written it), or None."""
        secret = await self._read()
        return None if secret is None else self._known(secret)

    async def forget_previous(self) -> None:
        """The old subscriptions are gone: stop accepting the previous secret."""
        stored = await self._read()
        if stored is not None and stored.previous is not None:
            await self._write(WebhookSecret(stored.current))

    async def _read(self) -> WebhookSecret | None:
        sealed = await self._store.get(NAMESPACE, KEY)
        if sealed is None:
            return None
        try:
            plain = load_cipher(self._settings).decrypt(sealed.encode())
        except InvalidToken:
            logger.warning(
                "The stored webhook secret cannot be decrypted (TOKEN_ENCRYPTION_KEY or the key "
                "file changed): a new one is made and every webhook subscription is made again"
            )
            return None
        value = json.loads(plain.decode())
        return WebhookSecret(str(value["current"]), value.get("previous"))

    async def _write(self, secret: WebhookSecret) -> None:
        plain = json.dumps({"current": secret.current, "previous": secret.previous})
        sealed = load_cipher(self._settings).encrypt(plain.encode()).decode()
        await self._store.put(NAMESPACE, KEY, sealed)

    @staticmethod
    def _known(secret: WebhookSecret) -> WebhookSecret:
        for value in (secret.current, secret.previous):
            if value:
                add_secret(value)  # never in a log line
        return secret
