"""`user.authorization.revoke`: a broadcaster took StreamCore's access back.

Twitch sends it to app-token subscribers (condition `client_id`) when a user disconnects the
app (https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/#userauthorizationrevoke).
The notification reaches the durable hand-off like any other; the coordinator's subscription
keeper reads that stream (`AuthorizationRevocations.take`), marks the channel revoked, and its
next reconciliation drops that channel's subscriptions. No other channel is touched, and the
channel's events stop; the dashboard and `streamcore channels list` show it `revoked` with a
link to authorize again. Marking is idempotent, so reading the stream from its start after a
restart changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bus import Bus
from core.constants import EVENTSUB_STREAM
from tokens.channels import ChannelRegistry

logger = logging.getLogger("streamcore.gateway")

AUTHORIZATION_REVOKE = "user.authorization.revoke"
STREAM = EVENTSUB_STREAM.format(type=AUTHORIZATION_REVOKE)

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


class AuthorizationRevocations:
    def __init__(self, bus: Bus, channels: ChannelRegistry, emit: Emit) -> None:
        self._bus = bus
        self._channels = channels
        self._emit = emit
        self._position = "0-0"

    async def take(self) -> int:
        """Apply the revocations that arrived since the last call; how many channels were
        newly marked revoked (BusError propagates: the caller retries next round)."""
        marked = 0
        while True:
            entries = await self._bus.read_after(STREAM, self._position, count=100)
            if not entries:
                return marked
            for entry in entries:
                self._position = entry.id
                marked += await self._apply(entry.fields.get("payload"))

    async def _apply(self, raw: str | None) -> int:
        try:
            event = json.loads(raw or "{}").get("event") or {}
        except (ValueError, AttributeError):
            return 0
        user_id = str(event.get("user_id") or "")
        if not user_id:
            return 0
        before = await self._channels.resolve(user_id, fresh=True)
        if before is None or before.status == "revoked":
            return 0
        record = await self._channels.mark_revoked(user_id)
        if record is None:
            return 0
        logger.warning(
            "Channel %s revoked StreamCore's authorization; its subscriptions stop", record.login
        )
        await self._emit(
            "system.channel.revoked",
            {"id": record.id, "login": record.login, "status": "revoked"},
        )
        return 1
