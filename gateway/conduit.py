"""The conduit transport's coordinator half: one conduit, its size, and its subscriptions.

Twitch's model (https://dev.twitch.tv/docs/eventsub/handling-conduit-events/): subscriptions
attach to a conduit rather than to a session, and the conduit's shards are sessions that any
process may own; Twitch hashes each notification to a shard and retries it once on another.
Everything here needs the app access token.

`ConduitKeeper` runs on the coordinator only. It adopts the conduit whose id is stored (or, if
that is gone, one this client already has, so no conduit is ever leaked: Twitch allows 5),
creates one only when there is none, sizes it to STREAMCORE_SHARDS, stores `{"id",
"shard_count"}` for the replicas' shard pools (`gateway.shards`), reconciles the wanted
subscriptions onto it once, and re-reads Twitch's list every `repair_interval_s` to repair what
was deleted from outside. WebSocket shards are the replicas' business (`gateway.shards`);
webhook shards are kept assigned here (`gateway.webhook_shards`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from core.backoff import Backoff
from core.errors import StreamCoreError
from db_infrastructure import Store
from gateway.constants import SHARD_DISABLED
from gateway.options import GatewayOptions
from gateway.planning import Target, Wanted
from gateway.revocations import AUTHORIZATION_REVOKE, AuthorizationRevocations
from gateway.subscriptions import SubscriptionBook
from gateway.webhook_shards import WebhookShards
from tokens.errors import TokenError
from tokens.helix import HelixClient
from tokens.manager import TokenManager

logger = logging.getLogger("streamcore.gateway")

#: Where the conduit in use is stored (the database: it must outlive Redis restarts).
CONDUIT_NAMESPACE, CONDUIT_KEY = "cluster", "conduit"

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]
#: How often the keeper looks for channels added or removed (a read of the channel list).
CHANNEL_CHECK_S = 1.0


async def stored_conduit(store: Store) -> dict[str, Any] | None:
    """{"id", "shard_count"} of the conduit in use, or None before the coordinator made one."""
    raw = await store.get(CONDUIT_NAMESPACE, CONDUIT_KEY)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
        return {"id": str(value["id"]), "shard_count": int(value["shard_count"])}
    except (ValueError, KeyError, TypeError):
        return None


class SubscriptionKeeper:
    """The coordinator's subscriptions on a target that outlives sessions (a conduit, a webhook
    callback): reconciled once, then re-read every `repair_interval_s` (every few seconds
    while a webhook awaits verification) and repaired."""

    #: How often Twitch's list is re-read while a subscription awaits verification.
    PENDING_CHECK_S = 1.0

    def __init__(
        self,
        *,
        store: Store,
        app_helix: HelixClient,
        tokens: TokenManager,
        client_id: str,
        wanted: Callable[[str], list[Wanted]],
        emit: Emit,
        may_act: Callable[[], bool],
        options: GatewayOptions,
        revocations: AuthorizationRevocations | None = None,
    ) -> None:
        self._store = store
        self._revocations = revocations
        self._helix = app_helix
        self._tokens = tokens
        self._client_id = client_id
        self._wanted = wanted
        self._emit = emit
        self._may_act = may_act
        self._options = options
        self.book = SubscriptionBook(app_helix)
        self.target: Target | None = None
        self.state = "starting"
        self.reason: str | None = None
        self.repairs = 0
        self._last_channels: list[str] = []

    def status(self) -> dict[str, Any]:
        return {
            "keeper_state": self.state,
            "keeper_reason": self.reason,
            "repairs": self.repairs,
            "channels": len(self._last_channels),
        }

    async def _ensure_target(self) -> Target:
        raise NotImplementedError

    def _extra_wanted(self, target: Target) -> list[Wanted]:
        # Tells the keeper when a channel's broadcaster disconnects the app (app token only).
        return [Wanted(AUTHORIZATION_REVOKE, "1", {"client_id": self._client_id})]

    async def _settled(self, target: Target) -> None:
        """Every wanted subscription is enabled (a hook for clean-ups)."""

    async def run(self) -> None:
        """Until cancelled or no longer the coordinator."""
        backoff = Backoff(self._options.reconnect_base_s, self._options.reconnect_cap_s)
        while self._may_act():
            try:
                settled = await self._keep()
            except TokenError as error:
                self.state, self.reason = "retrying", str(error)
                logger.warning("EventSub subscription upkeep failed (%s); retrying", error)
                settled = False
            if settled:
                backoff.reset()
            await asyncio.sleep(backoff.next_delay())

    async def _keep(self) -> bool:
        """One round: the target, the subscriptions, then repairs until something fails."""
        user_id = self._tokens.user_id
        if not user_id:
            try:
                await self._tokens.access_token()
            except TokenError as error:
                self.state, self.reason = "waiting", f"authorization required: {error}"
                return False
            user_id = self._tokens.user_id
        if not user_id:
            self.state, self.reason = "waiting", "authorization required"
            return False
        target = self.target = await self._ensure_target()
        channel_ids = await self._channel_ids(user_id)
        moderator = await self._moderator_id()
        wanted = [w for channel in channel_ids for w in self._wanted(channel)]
        wanted += self._extra_wanted(target)
        scopes = self._tokens.scopes or []
        await self.book.reconcile(wanted, target, set(channel_ids), scopes)
        self._report(len(wanted))
        due = None
        while self._may_act():
            if due is None:
                pending = any(s.status == "pending" for s in self.book.statuses.values())
                wait = self.PENDING_CHECK_S if pending else self._options.repair_interval_s
                due = time.monotonic() + wait
            await asyncio.sleep(max(0.0, min(CHANNEL_CHECK_S, due - time.monotonic())))
            if not self._may_act():
                break
            if await self._channel_ids(user_id) != channel_ids:
                return True  # a channel came or went: reconciled again from the top
            if await self._moderator_id() != moderator:
                return True  # moderator conditions now name another account
            if time.monotonic() < due:
                continue
            due = None
            if await self._ensure_target() != target:
                return True  # replaced from outside: subscribed again from scratch
            if retry := self.book.retryable():
                await self.book.create(retry, target, scopes)
            for entry in await self.book.repair(target, scopes):
                self.repairs += 1
                await self._emit("system.subscription.repaired", entry.public())
            self._report(len(wanted))
            if self.book.settled():
                await self._settled(target)
        return True

    async def _channel_ids(self, default_id: str) -> list[str]:
        """The default channel, then every other channel still authorized: an app token
        subscribes for all of them (each broadcaster authorized this client id)."""
        try:
            if self._revocations is not None:
                await self._revocations.take()
            records = await self._tokens.channels.list()
        except StreamCoreError as error:
            logger.warning("Could not read the channel list (%s); keeping the last", error)
            return self._last_channels or [default_id]
        others = [r.id for r in records if r.status == "authorized" and r.id != default_id]
        self._last_channels = [default_id, *others]
        return self._last_channels

    async def _moderator_id(self) -> str | None:
        """The moderator account (tokens.identities), read at most every few seconds; its id
        goes into `moderator_user_id` conditions (see app.eventsub)."""
        try:
            identity = await self._tokens.identities.get("moderator")
        except StreamCoreError as error:
            logger.warning("Could not read the moderator account (%s); keeping the last", error)
            identity = self._tokens.identities.cached("moderator")
        return identity.user_id if identity is not None else None

    def _report(self, wanted: int) -> None:
        enabled = self.book.enabled_count()
        reason = f"{enabled} of {wanted} subscriptions enabled"
        if reason != self.reason:
            logger.info("EventSub subscriptions on %s: %s", self.target, reason)
        self.state, self.reason = "ready", reason


class ConduitKeeper(SubscriptionKeeper):
    """Adopts the stored conduit, or one this client already has (none leaks: Twitch allows
    5), creates one only when there is none, sizes it, and stores it for the shard pools."""

    def __init__(
        self, *, shard_count: int, webhook_shards: WebhookShards | None = None, **parts: Any
    ) -> None:
        super().__init__(**parts)
        self._shard_count = shard_count
        #: Set when the shards are webhooks (kept assigned here rather than by the replicas).
        self.webhook_shards = webhook_shards

    @property
    def conduit_id(self) -> str | None:
        return None if self.target is None else self.target.id

    def status(self) -> dict[str, Any]:
        shards = {} if self.webhook_shards is None else self.webhook_shards.status()
        return {
            "conduit_id": self.conduit_id,
            "shard_count": self._shard_count,
            **shards,
            **super().status(),
        }

    async def run(self) -> None:
        if self.webhook_shards is None:
            await super().run()
            return
        tending = asyncio.create_task(
            self.webhook_shards.run(lambda: self.conduit_id), name="gateway.webhook_shards"
        )
        try:
            await super().run()
        finally:
            tending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tending

    def _extra_wanted(self, target: Target) -> list[Wanted]:
        # Tells every replica that a shard went down (see gateway.shards).
        condition = {"client_id": self._client_id, "conduit_id": target.id}
        return [*super()._extra_wanted(target), Wanted(SHARD_DISABLED, "1", condition)]

    async def _ensure_target(self) -> Target:
        return Target("conduit", await self._ensure_conduit())

    async def _ensure_conduit(self) -> str:
        """The conduit in use: adopted or created, sized, and stored for the replicas."""
        stored = await stored_conduit(self._store)
        listed = (await self._helix.request("GET", "eventsub/conduits")).json().get("data") or []
        by_id = {str(c["id"]): c for c in listed}
        if stored is not None and stored["id"] in by_id:
            conduit = by_id[stored["id"]]
        elif listed:
            conduit = listed[0]
            logger.info("Adopting conduit %s, which this client id already has", conduit["id"])
        else:
            body = {"shard_count": self._shard_count}
            response = await self._helix.request("POST", "eventsub/conduits", json=body)
            conduit = response.json()["data"][0]
            logger.info("Created conduit %s with %d shards", conduit["id"], self._shard_count)
        conduit_id = str(conduit["id"])
        if int(conduit["shard_count"]) != self._shard_count:
            resize = {"id": conduit_id, "shard_count": self._shard_count}
            await self._helix.request("PATCH", "eventsub/conduits", json=resize)
            logger.info("Resized conduit %s to %d shards", conduit_id, self._shard_count)
        record: dict[str, Any] = {"id": conduit_id, "shard_count": self._shard_count}
        if stored != record and self._may_act():  # fenced: only a coordinator sure of its lease
            await self._store.put(CONDUIT_NAMESPACE, CONDUIT_KEY, json.dumps(record))
        return conduit_id
