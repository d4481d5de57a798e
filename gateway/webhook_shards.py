"""Conduit shards as webhooks (TWITCH_CONDUIT_SHARD_TRANSPORT=webhook), kept by the coordinator.

Every shard of the conduit is assigned the one public callback (STREAMCORE_PUBLIC_URL + the
callback path, `?v=` naming the secret's version), which the reverse proxy spreads over the
replicas. Twitch POSTs each notification to its shard's callback and a replica answers 2xx
only once it is in the durable hand-off; a POST that fails (the replica died mid-request,
the proxy had nobody) is tried once on another shard, the same message id, and the hand-off
stores it once. So a replica's death needs no takeover at all: no lease, no session to
re-assign, nothing lost. https://dev.twitch.tv/docs/eventsub/handling-conduit-events/

What is left to do is keeping the shards assigned: Twitch disables a webhook shard whose
challenge failed or whose POSTs failed too often in a row (a Redis outage answers 503), so
the shards are re-read every CHECK_S (every PENDING_CHECK_S while one is not enabled) and any
shard not on our callback, or not enabled nor pending verification, is assigned again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tokens.errors import TokenError
from tokens.helix import HelixClient
from tokens.webhook_secret import WebhookSecret

logger = logging.getLogger("streamcore.gateway")

#: How often the shards are re-read when all were fine, and while one is not.
CHECK_S = 5.0
PENDING_CHECK_S = 1.0
#: Shards per PATCH (Twitch takes a list; a bounded body keeps each call quick).
PATCH_BATCH = 100
SHARDS_PATH = "eventsub/conduits/shards"
ENABLED = "enabled"
PENDING = "webhook_callback_verification_pending"


class WebhookShards:
    def __init__(
        self,
        app_helix: HelixClient,
        base: str,
        secret: WebhookSecret,
        may_act: Callable[[], bool],
        refresh: Callable[[], Awaitable[WebhookSecret]] | None = None,
    ) -> None:
        self._helix = app_helix
        self._base = base
        self._secret = secret
        #: The stored secret (every replica checks signatures with it), read each round.
        self._refresh = refresh
        self._may_act = may_act
        #: Shard id -> status, as Twitch listed them last.
        self.statuses: dict[str, str] = {}
        self.assigned = 0

    @property
    def callback(self) -> str:
        return f"{self._base}?v={self._secret.version}"

    def status(self) -> dict[str, Any]:
        return {
            "shard_transport": "webhook",
            "callback": self._base,
            "shards": {shard_id: {"state": status} for shard_id, status in self.statuses.items()},
            "shards_assigned": self.assigned,
        }

    async def run(self, conduit_id: Callable[[], str | None]) -> None:
        """Until cancelled or no longer the coordinator."""
        while self._may_act():
            delay = CHECK_S
            conduit = conduit_id()
            if conduit is not None:
                try:
                    delay = CHECK_S if await self.tend(conduit) else PENDING_CHECK_S
                except TokenError as error:
                    logger.warning("Could not check conduit %s's shards: %s", conduit, error)
                    delay = PENDING_CHECK_S
            await asyncio.sleep(delay)

    async def tend(self, conduit_id: str) -> bool:
        """Assign every shard that needs it; True when every shard was already enabled."""
        if self._refresh is not None:
            self._secret = await self._refresh()  # a new one changes the callback: re-assigned
        listed = await self._list(conduit_id)
        self.statuses = {str(s["id"]): str(s.get("status")) for s in listed}
        stale = [str(s["id"]) for s in listed if not self._ours(s)]
        for start in range(0, len(stale), PATCH_BATCH):
            if not self._may_act():
                break
            await self._assign(conduit_id, stale[start : start + PATCH_BATCH])
        return not stale and all(status == ENABLED for status in self.statuses.values())

    def _ours(self, shard: dict[str, Any]) -> bool:
        transport = shard.get("transport") or {}
        return (
            transport.get("method") == "webhook"
            and transport.get("callback") == self.callback
            and shard.get("status") in (ENABLED, PENDING)
        )

    async def _list(self, conduit_id: str) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = [("conduit_id", conduit_id)] + ([("after", cursor)] if cursor else [])
            body = (
                await self._helix.request("GET", "eventsub/conduits/shards", params=params)
            ).json()
            shards.extend(body.get("data") or [])
            cursor = (body.get("pagination") or {}).get("cursor")
            if not cursor:
                return shards

    async def _assign(self, conduit_id: str, shard_ids: list[str]) -> None:
        transport = {"method": "webhook", "callback": self.callback, "secret": self._secret.current}
        body = {
            "conduit_id": conduit_id,
            "shards": [{"id": shard_id, "transport": transport} for shard_id in shard_ids],
        }
        response = await self._helix.request("PATCH", SHARDS_PATH, json=body)
        errors = response.json().get("errors") or []
        for error in errors:
            logger.error(
                "Twitch refused webhook shard %s: %s", error.get("id"), error.get("message")
            )
        self.assigned += len(shard_ids) - len(errors)
        logger.info(
            "Conduit %s: shards %s assigned to the webhook callback %s",
            conduit_id,
            ", ".join(shard_ids),
            self._base,
        )
