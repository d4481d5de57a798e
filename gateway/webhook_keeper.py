"""The webhook transport's subscriptions, kept by the coordinator (app token).

They are made on `STREAMCORE_PUBLIC_URL` + the callback path, with `?v=` naming the secret's
version (a hash prefix, never the secret): after a rotation the new subscriptions are new to
Twitch (not duplicates of the old ones), and the old ones, recognisable by their version, are
deleted only once every new one is verified and enabled, so no event falls between them.
Subscriptions on any other callback belong to someone else and are never touched.
https://dev.twitch.tv/docs/eventsub/handling-webhook-events/
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.conduit import SubscriptionKeeper
from gateway.planning import Target
from tokens.errors import HelixNotFound, TokenError
from tokens.webhook_secret import WebhookSecret, WebhookSecrets

logger = logging.getLogger("streamcore.gateway")


def callback_base(public_url: str, path: str) -> str:
    return public_url.rstrip("/") + path


class WebhookKeeper(SubscriptionKeeper):
    def __init__(
        self,
        *,
        base: str,
        secret: WebhookSecret,
        secrets: WebhookSecrets,
        refresh: Callable[[], Awaitable[WebhookSecret]] | None = None,
        **parts: Any,
    ) -> None:
        super().__init__(**parts)
        self._base = base
        self._secret = secret
        self._secrets = secrets
        #: The stored secret (every replica checks signatures with it), read each round.
        self._refresh = refresh

    def status(self) -> dict[str, Any]:
        return {"callback": self._base, "secret_version": self._secret.version, **super().status()}

    async def _ensure_target(self) -> Target:
        if self._refresh is not None:
            self._secret = await self._refresh()
        callback = f"{self._base}?v={self._secret.version}"
        return Target("webhook", callback, self._secret.current)

    async def _settled(self, target: Target) -> None:
        """Delete this callback's subscriptions made with an older secret, then forget it."""
        try:
            listed = await self._helix.list_eventsub_subscriptions()
        except TokenError as error:
            logger.warning("Could not list subscriptions to tidy a rotation: %s", error)
            return
        stale = [
            sub
            for sub in listed
            if (sub.get("transport") or {}).get("method") == "webhook"
            and str((sub.get("transport") or {}).get("callback", "")).startswith(self._base + "?")
            and not target.owns(sub.get("transport") or {})
        ]
        for sub in stale:
            logger.info("Deleting webhook subscription %s of an older secret", sub.get("type"))
            with contextlib.suppress(HelixNotFound):  # gone already
                await self._helix.delete_eventsub_subscription(str(sub["id"]))
        if self._secret.previous is not None:
            await self._secrets.forget_previous()
            self._secret = WebhookSecret(self._secret.current)
