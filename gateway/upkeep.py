"""What a gateway session does around its notifications: subscribe, announce a coverage
gap, retry what failed for a passing reason, repair what Twitch lost, and handle revocations.

Kept apart from `gateway.service` (the socket loop) so each stays readable; the gateway calls
`subscribe` once per new session, then `keep_subscribed` for the session's life.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from core.backoff import Backoff
from core.timestamps import iso_utc
from gateway.coverage import Coverage
from gateway.loop_items import Spawn
from gateway.options import GatewayOptions
from gateway.protocol import Drop, Revoked
from gateway.subscriptions import SubscriptionBook, Wanted
from tokens.errors import TokenError
from tokens.manager import TokenManager

logger = logging.getLogger("streamcore.gateway")

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


class SessionUpkeep(Protocol):
    """What the gateway's session loop asks of its upkeep (see `Upkeep`, `ShardUpkeep`)."""

    repairs: int

    async def blocked(self) -> str | None:
        """Why connecting now would be useless (no authorization, nothing wanted), or None."""

    async def subscribe(self, session_id: str) -> bool:
        """Make the new session receive events; False when nothing could be done."""

    async def announce_gap(self) -> None: ...

    async def keep_subscribed(self, session_id: str) -> None:
        """Runs for the session's life once `subscribe` succeeded."""

    async def revoked(self, action: Revoked) -> None: ...

    def received(self, now: float, spawn: Spawn) -> None:
        """A frame arrived on the subscribed session at `now` (wall clock)."""

    def session_lost(self) -> None: ...

    async def stopped(self, requested: bool) -> None: ...

    def subscriptions(self) -> list[dict[str, Any]]: ...

    async def shard_disabled(self, event: dict[str, Any]) -> None:
        """Twitch says a conduit shard went down (stored once; see gateway.shards)."""


class Upkeep:
    def __init__(
        self,
        book: SubscriptionBook,
        tokens: TokenManager,
        wanted: Callable[[str], list[Wanted]],
        coverage: Coverage,
        options: GatewayOptions,
        emit: Emit,
        may_act: Callable[[], bool],
    ) -> None:
        self._book = book
        self._tokens = tokens
        self._wanted = wanted
        self.coverage = coverage
        self._options = options
        self._emit = emit
        self._may_act = may_act
        #: Subscriptions re-created because Twitch no longer listed them (deleted outside).
        self.repairs = 0

    async def blocked(self) -> str | None:
        """Why connecting now would only earn a 4003, or None when something can subscribe."""
        try:
            await self._tokens.access_token()
        except TokenError as error:
            return f"authorization required: {error}"
        user_id = self._tokens.user_id
        if not user_id:
            return "authorization required: the token's user is unknown"
        wanted = self._wanted(user_id)
        if not wanted:
            return "no worker wants a subscription"
        failed = self._book.permanently_failed(wanted, self._tokens.scopes or [])
        if failed == {w.key for w in wanted}:
            return "every wanted subscription failed permanently (see subscriptions)"
        return None

    def received(self, now: float, spawn: Spawn) -> None:
        if self.coverage.due(now):
            spawn(self.coverage.mark(now))

    def session_lost(self) -> None:
        self._book.session_lost()

    async def stopped(self, requested: bool) -> None:
        if requested:
            await self.coverage.clear()

    def subscriptions(self) -> list[dict[str, Any]]:
        return self._book.public()

    async def shard_disabled(self, event: dict[str, Any]) -> None:
        return None  # a WebSocket-transport session has no shards

    async def subscribe(self, session_id: str) -> bool:
        """Reconcile the subscriptions onto `session_id`; True when at least one is enabled."""
        user_id = self._tokens.user_id
        wanted = self._wanted(user_id) if user_id else []
        started = time.monotonic()
        try:
            await self._book.reconcile(wanted, session_id, user_id, self._tokens.scopes or [])
        except TokenError as error:
            logger.error("Could not list EventSub subscriptions: %s", error)
        enabled = self._book.enabled_count()
        logger.info(
            "EventSub session %s: %d of %d subscriptions enabled in %.2f s",
            session_id,
            enabled,
            len(wanted),
            time.monotonic() - started,
        )
        return enabled > 0

    async def keep_subscribed(self, session_id: str) -> None:
        """For the session's life: retry what failed for a passing reason, then repair."""
        backoff = Backoff(self._options.retry_base_s, self._options.retry_cap_s)
        while (retry := self._book.retryable()) and self._may_act():
            await asyncio.sleep(backoff.next_delay())
            await self._book.create(retry, session_id, self._tokens.scopes or [])
        await self._keep_repaired(session_id)

    async def announce_gap(self) -> None:
        """Emit the window in which no session was subscribed (see gateway.coverage)."""
        now = time.time()
        since = await self.coverage.gap_since()
        await self.coverage.mark(now)
        if since is None or since >= now:
            return
        logger.warning(
            "EventSub coverage gap of %.1f s: Twitch's events in it are lost", now - since
        )
        await self._emit(
            "system.gateway",
            {
                "state": "gap",
                "reason": "no EventSub session was subscribed: events in between are lost",
                "since": iso_utc(since),
                "until": iso_utc(now),
            },
        )

    async def _keep_repaired(self, session_id: str) -> None:
        """Every `repair_interval_s`, check Twitch's list and re-create what it lost, so a
        subscription deleted from outside is neither silently missing nor shown enabled."""
        while True:
            await asyncio.sleep(self._options.repair_interval_s)
            if not self._may_act():
                return
            try:
                repaired = await self._book.repair(session_id, self._tokens.scopes or [])
            except TokenError as error:
                logger.warning("Could not re-read EventSub subscriptions: %s", error)
                continue
            for entry in repaired:
                self.repairs += 1
                await self._emit("system.subscription.repaired", entry.public())

    async def revoked(self, action: Revoked) -> None:
        self._book.mark_revoked(action.subscription, action.status)
        await handle_revocation(action, self._emit, self._tokens)


async def handle_revocation(action: Revoked, emit: Emit, tokens: TokenManager) -> None:
    """Announce a revoked subscription; a revoked authorization needs the user again."""
    sub = action.subscription
    logger.warning("Twitch revoked subscription %s (%s)", sub.get("type"), action.status)
    await emit(
        "system.subscription.revoked",
        {
            "id": sub.get("id"),
            "type": sub.get("type"),
            "version": sub.get("version"),
            "condition": sub.get("condition"),
            "status": action.status,
        },
    )
    if action.status == "authorization_revoked":
        await tokens.mark_auth_required(
            "Twitch revoked the authorization (the user disconnected the app or changed "
            "their password)"
        )


def log_drop(action: Drop) -> None:
    if action.why == "unknown":
        logger.info("Ignoring EventSub message of unknown type %r", action.detail)
    elif action.why in ("stale", "future"):
        logger.warning(
            "Dropped %s message %s: %s",
            action.subscription_type,
            action.detail,
            "older than 10 minutes (a replay)"
            if action.why == "stale"
            else "from the future (set this machine's clock right, or it is forged)",
        )
    else:
        logger.warning("Skipped a malformed EventSub frame: %s", action.detail)
