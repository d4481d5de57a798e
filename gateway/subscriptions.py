"""Desired-state reconciliation of EventSub subscriptions.

Twitch's rules it follows: subscriptions are created, listed and deleted through Helix
(https://dev.twitch.tv/docs/api/reference/#create-eventsub-subscription, with Get and Delete
EventSub Subscriptions beside it), and the WebSocket subscriptions of one user token are capped
by cost and count (https://dev.twitch.tv/docs/eventsub/manage-subscriptions/).

`gateway.planning.plan_reconciliation` decides what to adopt, create, delete and skip;
`SubscriptionBook` carries the plan out through the HelixClient, in parallel, and keeps
each wanted subscription's status for `GET /system/status`:

    enabled | pending | failed (reason; `retryable` or permanent) | revoked (status) | skipped

403 and 400/410 are permanent until the configuration changes (here: until the token's scopes
change); 401, 429 (rate limit), 5xx and network failures are retried with back-off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.planning import (
    MAX_PER_CONNECTION,
    MAX_TOTAL_COST,
    NO_AUTHORIZATION_TYPES,
    Plan,
    Status,
    SubKey,
    Target,
    Wanted,
    as_target,
    distinct_wanted,
    estimated_cost,
    key_of,
    moderator_id_for,
    plan_reconciliation,
)
from tokens.errors import (
    AuthRequired,
    HelixBadRequest,
    HelixConflict,
    HelixError,
    HelixForbidden,
    HelixGone,
    HelixNotFound,
    HelixRateLimited,
    TokenError,
)
from tokens.helix import HelixClient

__all__ = [
    "MAX_PER_CONNECTION",
    "MAX_TOTAL_COST",
    "NO_AUTHORIZATION_TYPES",
    "Plan",
    "SubscriptionBook",
    "SubscriptionStatus",
    "Target",
    "Wanted",
    "distinct_wanted",
    "estimated_cost",
    "key_of",
    "moderator_id_for",
    "plan_reconciliation",
]

logger = logging.getLogger("streamcore.gateway")

#: A webhook subscription's status until its callback answered Twitch's challenge.
VERIFICATION_PENDING = "webhook_callback_verification_pending"

#: Parallel Helix calls: enough to create 300 subscriptions well inside the 10 s deadline,
#: few enough to stay polite to Twitch's rate limiter (800 points a minute).
CREATE_CONCURRENCY = 16


@dataclass
class SubscriptionStatus:
    type: str
    version: str
    condition: dict[str, str]
    status: Status = "pending"
    reason: str | None = None
    twitch_id: str | None = None
    retryable: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "version": self.version,
            "condition": dict(self.condition),
            "status": self.status,
            "reason": self.reason,
            "twitch_id": self.twitch_id,
        }


class SubscriptionBook:
    """Carries plans out through Helix and remembers each wanted subscription's status."""

    def __init__(self, helix: HelixClient, concurrency: int = CREATE_CONCURRENCY) -> None:
        self._helix = helix
        self._limit = asyncio.Semaphore(concurrency)
        self.statuses: dict[SubKey, SubscriptionStatus] = {}
        #: Key -> (token scopes when it failed, reason): not retried until the scopes change.
        self._permanent: dict[SubKey, tuple[tuple[str, ...], str]] = {}

    def settled(self) -> bool:
        """Nothing is on its way: every subscription is enabled, or failed for good."""
        return bool(self.statuses) and not any(
            s.status == "pending" or (s.status == "failed" and s.retryable)
            for s in self.statuses.values()
        )

    def enabled_count(self) -> int:
        return sum(s.status == "enabled" for s in self.statuses.values())

    def retryable(self) -> list[Wanted]:
        return [
            Wanted(s.type, s.version, s.condition)
            for s in self.statuses.values()
            if s.status == "failed" and s.retryable
        ]

    def public(self) -> list[dict[str, Any]]:
        return [status.public() for status in self.statuses.values()]

    def permanently_failed(self, wanted: Sequence[Wanted], scopes: Sequence[str]) -> set[SubKey]:
        fingerprint = tuple(sorted(scopes))
        return {
            w.key for w in wanted if self._permanent.get(w.key, ((), ""))[0] == fingerprint
        } & set(self._permanent)

    def session_lost(self) -> None:
        """The socket is gone and its subscriptions with it: everything enabled is pending."""
        for status in self.statuses.values():
            if status.status == "enabled":
                status.status, status.reason, status.twitch_id = "pending", None, None

    def mark_revoked(self, subscription: dict[str, Any], status: str) -> SubscriptionStatus | None:
        key = key_of(
            subscription.get("type", ""),
            subscription.get("version", ""),
            subscription.get("condition") or {},
        )
        entry = self.statuses.get(key)
        if entry is not None:
            entry.status, entry.reason, entry.retryable = "revoked", status, False
            entry.twitch_id = subscription.get("id") or entry.twitch_id
        return entry

    async def _existing(self) -> tuple[list[dict[str, Any]], int]:
        """Every subscription of this token's user, and Twitch's max_total_cost."""
        subs: list[dict[str, Any]] = []
        max_cost = MAX_TOTAL_COST
        cursor: str | None = None
        while True:
            params = [("after", cursor)] if cursor else []
            response = await self._helix.request("GET", "eventsub/subscriptions", params=params)
            body = response.json()
            subs.extend(body.get("data") or [])
            max_cost = int(body.get("max_total_cost") or max_cost)
            cursor = (body.get("pagination") or {}).get("cursor")
            if not cursor:
                return subs, max_cost

    async def reconcile(
        self,
        wanted: Sequence[Wanted],
        target: Target | str,
        own_user_id: str | Collection[str] | None,
        scopes: Sequence[str],
    ) -> Plan:
        """Make Twitch's subscriptions match `wanted` on `target`; returns the plan run."""
        target = as_target(target)
        self.statuses = {
            w.key: self.statuses.get(w.key) or SubscriptionStatus(w.type, w.version, w.condition)
            for w in wanted
        }
        for status in self.statuses.values():
            if status.status != "revoked":
                status.status, status.twitch_id = "pending", None
        excluded = self.permanently_failed(wanted, scopes)
        for key in excluded:
            self._fail(key, self._permanent[key][1], retryable=False)
        existing, max_cost = await self._existing()
        plan = plan_reconciliation(
            wanted,
            existing,
            target,
            own_user_id,
            max_cost,
            # Twitch's per-connection cap is for WebSocket sessions only.
            max_per_connection=MAX_PER_CONNECTION if target.method == "websocket" else 10**9,
            exclude=excluded,
        )
        for twitch_id, why in plan.delete:
            logger.info("Deleting orphaned EventSub subscription %s (%s)", twitch_id, why)
        # Create at once; orphans are deleted alongside (disabled ones cost nothing meanwhile).
        await asyncio.gather(
            *(self._delete(twitch_id) for twitch_id, _ in plan.delete),
            *(self._create(want, target, scopes) for want in plan.create),
        )
        for key, twitch_id in plan.adopt.items():
            entry = self.statuses[key]
            entry.status, entry.twitch_id, entry.reason = "enabled", twitch_id, None
        for want, why in plan.skip:
            entry = self.statuses[want.key]
            entry.status, entry.reason, entry.retryable = "skipped", why, False
            logger.warning("Skipping EventSub subscription %s: %s", want.type, why)
        return plan

    async def repair(self, target: Target | str, scopes: Sequence[str]) -> list[SubscriptionStatus]:
        """Re-read Twitch's list and re-create every subscription shown `enabled` here that
        Twitch no longer lists as enabled on `target` (deleted from outside, by another
        app or by hand); returns the ones repaired, so status never claims what is not."""
        target = as_target(target)
        existing, _ = await self._existing()
        listed = {sub.get("id"): sub for sub in existing if target.owns(sub.get("transport") or {})}
        live = {sub_id for sub_id, sub in listed.items() if sub.get("status") == "enabled"}
        for entry in self.statuses.values():
            if entry.status == "pending" and entry.twitch_id in listed:
                status = listed[entry.twitch_id].get("status")
                if status == "enabled":  # a webhook verified meanwhile
                    entry.status, entry.reason = "enabled", None
                elif status != VERIFICATION_PENDING:
                    entry.status, entry.reason, entry.retryable = "failed", status, True
        missing = [
            s for s in self.statuses.values() if s.status == "enabled" and s.twitch_id not in live
        ]
        for entry in missing:
            logger.warning(
                "EventSub subscription %s %s is gone at Twitch; re-creating it",
                entry.type,
                entry.twitch_id,
            )
            entry.status, entry.twitch_id = "pending", None
        await self.create([Wanted(s.type, s.version, s.condition) for s in missing], target, scopes)
        return missing

    async def create(
        self, wanted: Sequence[Wanted], target: Target | str, scopes: Sequence[str]
    ) -> None:
        """Create these (a retry round), in parallel."""
        target = as_target(target)
        await asyncio.gather(*(self._create(want, target, scopes) for want in wanted))

    async def _delete(self, twitch_id: str) -> None:
        async with self._limit:
            try:
                await self._helix.delete_eventsub_subscription(twitch_id)
            except HelixNotFound:
                pass
            except TokenError as error:
                logger.warning("Could not delete subscription %s: %s", twitch_id, error)

    def _fail(self, key: SubKey, reason: str, retryable: bool) -> None:
        entry = self.statuses[key]
        entry.status, entry.reason, entry.retryable, entry.twitch_id = (
            "failed",
            reason,
            retryable,
            None,
        )

    async def _create(self, want: Wanted, target: Target, scopes: Sequence[str]) -> None:
        transport = target.transport()
        async with self._limit:
            try:
                created = await self._helix.create_eventsub_subscription(
                    want.type, want.version, want.condition, transport
                )
            except HelixConflict as error:
                existing_id = error.existing_id or await self._find_on(want, target)
                entry = self.statuses[want.key]
                entry.status, entry.twitch_id, entry.reason = "enabled", existing_id, None
                return
            except HelixForbidden as error:
                scope = error.missing_scope
                reason = f"missing scope {scope}" if scope else f"forbidden: {error.message}"
                self._permanent_failure(want, reason + "; authorize again at /tokens/link", scopes)
                return
            except (HelixBadRequest, HelixGone) as error:
                self._permanent_failure(want, f"{error.status}: {error.message}", scopes)
                return
            except HelixRateLimited as error:
                text = error.message.lower()
                if "cost" in text or "per websocket connection" in text or "transports" in text:
                    entry = self.statuses[want.key]
                    entry.status, entry.reason, entry.retryable = "skipped", error.message, False
                    logger.warning(
                        "Skipping EventSub subscription %s: %s", want.type, error.message
                    )
                else:
                    self._fail(want.key, f"rate limited: {error.message}", retryable=True)
                return
            except AuthRequired as error:
                self._fail(want.key, f"authorization required: {error}", retryable=True)
                return
            except HelixError as error:  # 401 after a refresh, 5xx, network
                self._fail(want.key, f"{error.status or 'network'}: {error.message}", True)
                return
            except TokenError as error:
                self._fail(want.key, str(error), retryable=True)
                return
        entry = self.statuses[want.key]
        entry.status, entry.twitch_id, entry.reason = "enabled", created.get("id"), None
        if created.get("status") == VERIFICATION_PENDING:  # a webhook: enabled once verified
            entry.status, entry.reason = "pending", VERIFICATION_PENDING

    def _permanent_failure(self, want: Wanted, reason: str, scopes: Sequence[str]) -> None:
        self._permanent[want.key] = (tuple(sorted(scopes)), reason)
        self._fail(want.key, reason, retryable=False)
        logger.error("EventSub subscription %s v%s failed: %s", want.type, want.version, reason)

    async def _find_on(self, want: Wanted, target: Target) -> str | None:
        """409 without an id: the subscription exists; find it to adopt it."""
        try:
            existing = await self._helix.list_eventsub_subscriptions(type=want.type)
        except TokenError:
            return None
        for sub in existing:
            same = key_of(sub.get("type", ""), sub.get("version", ""), sub.get("condition") or {})
            if same == want.key and target.owns(sub.get("transport") or {}):
                return str(sub["id"])
        return None
