"""Desired-state reconciliation of EventSub subscriptions.

Twitch's rules it follows: subscriptions are created, listed and deleted through Helix
(https://dev.twitch.tv/docs/api/reference/#create-eventsub-subscription, with Get and Delete
EventSub Subscriptions beside it), and the WebSocket subscriptions of one user token are capped
by cost and count (https://dev.twitch.tv/docs/eventsub/manage-subscriptions/).

`plan_reconciliation` is pure: given what the workers want and what `GET
/eventsub/subscriptions` lists, it decides what to adopt, create, delete (orphans: another
session's, disabled ones, ones no worker wants) and skip (over the cost or per-connection
limit). `SubscriptionBook` carries the plan out through the HelixClient, in parallel, and keeps
each wanted subscription's status for `GET /system/status`:

    enabled | pending | failed (reason; `retryable` or permanent) | revoked (status) | skipped

403 and 400/410 are permanent until the configuration changes (here: until the token's scopes
change); 401, 429 (rate limit), 5xx and network failures are retried with back-off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

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

logger = logging.getLogger("streamcore.gateway")

#: Twitch's limits per user token for WebSocket subscriptions: total cost at most 10, at most 300
#: enabled subscriptions per connection. See "Subscription limits" in
#: https://dev.twitch.tv/docs/eventsub/handling-websocket-events/
MAX_TOTAL_COST = 10
MAX_PER_CONNECTION = 300
#: Parallel Helix calls: enough to create 300 subscriptions well inside the 10 s deadline,
#: few enough to stay polite to Twitch's rate limiter (800 points a minute).
CREATE_CONCURRENCY = 16
#: Types that need no authorization cost 1 unless the condition's user authorized us; types
#: that need a scope cost 0. Twitch's cost rules:
#: https://dev.twitch.tv/docs/eventsub/manage-subscriptions/
NO_AUTHORIZATION_TYPES = frozenset(
    {"stream.online", "stream.offline", "channel.update", "channel.raid", "user.update"}
)

SubKey = tuple[str, str, tuple[tuple[str, str], ...]]
Status = Literal["pending", "enabled", "failed", "revoked", "skipped"]


def key_of(type_: str, version: str, condition: dict[str, Any]) -> SubKey:
    """Identity of a subscription: same type, version and condition are one subscription."""
    return type_, version, tuple(sorted((k, str(v)) for k, v in condition.items() if v))


@dataclass(frozen=True)
class Wanted:
    type: str
    version: str
    condition: dict[str, str]

    @property
    def key(self) -> SubKey:
        return key_of(self.type, self.version, self.condition)


def moderator_id_for(broadcaster_id: str, configured_moderator_id: str = "") -> str:
    """The `moderator_id` workers get: TWITCH_MODERATOR_ID when set, else the broadcaster."""
    return configured_moderator_id or broadcaster_id


def distinct_wanted(subscriptions: Iterable[dict[str, Any]]) -> list[Wanted]:
    """Workers' declarations -> one Wanted per distinct (type, version, condition), in order."""
    seen: dict[SubKey, Wanted] = {}
    for sub in subscriptions:
        wanted = Wanted(str(sub["type"]), str(sub["version"]), dict(sub["condition"]))
        seen.setdefault(wanted.key, wanted)
    return list(seen.values())


def estimated_cost(wanted: Wanted, own_user_id: str | None) -> int:
    if wanted.type not in NO_AUTHORIZATION_TYPES:
        return 0
    named = {v for k, v in wanted.condition.items() if k.endswith("user_id")}
    return 0 if own_user_id in named else 1


@dataclass
class Plan:
    adopt: dict[SubKey, str] = field(default_factory=dict)
    create: list[Wanted] = field(default_factory=list)
    delete: list[tuple[str, str]] = field(default_factory=list)  # (twitch id, why)
    skip: list[tuple[Wanted, str]] = field(default_factory=list)


def plan_reconciliation(
    wanted: Sequence[Wanted],
    existing: Sequence[dict[str, Any]],
    session_id: str,
    own_user_id: str | None = None,
    max_total_cost: int = MAX_TOTAL_COST,
    max_per_connection: int = MAX_PER_CONNECTION,
    exclude: Iterable[SubKey] = (),
) -> Plan:
    """What to do so that exactly the wanted subscriptions are enabled on `session_id`.

    `exclude` holds keys not to attempt (permanent failures); they are neither created nor
    counted.
    """
    plan = Plan()
    wanted_keys = {w.key for w in wanted}
    kept_cost = 0
    for sub in existing:
        transport = sub.get("transport") or {}
        if transport.get("method") != "websocket":
            continue  # webhook/conduit subscriptions belong to app tokens, not to us
        key = key_of(sub.get("type", ""), sub.get("version", ""), sub.get("condition") or {})
        if sub.get("status") != "enabled":
            plan.delete.append((sub["id"], f"disabled ({sub.get('status')})"))
        elif transport.get("session_id") != session_id:
            plan.delete.append((sub["id"], "left by another session"))
        elif key not in wanted_keys or key in plan.adopt:
            plan.delete.append((sub["id"], "no worker wants it"))
        else:
            plan.adopt[key] = sub["id"]
            kept_cost += int(sub.get("cost") or 0)
    budget = max_total_cost - kept_cost
    slots = max_per_connection - len(plan.adopt)
    excluded = set(exclude)
    for want in wanted:
        if want.key in plan.adopt or want.key in excluded:
            continue
        cost = estimated_cost(want, own_user_id)
        if slots <= 0:
            plan.skip.append((want, f"over {max_per_connection} subscriptions per connection"))
        elif cost > budget:
            plan.skip.append((want, f"max_total_cost {max_total_cost} would be exceeded"))
        else:
            plan.create.append(want)
            slots -= 1
            budget -= cost
    return plan


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
        session_id: str,
        own_user_id: str | None,
        scopes: Sequence[str],
    ) -> Plan:
        """Make Twitch's subscriptions match `wanted` on `session_id`; returns the plan run."""
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
            wanted, existing, session_id, own_user_id, max_cost, exclude=excluded
        )
        for twitch_id, why in plan.delete:
            logger.info("Deleting orphaned EventSub subscription %s (%s)", twitch_id, why)
        # Create at once; orphans are deleted alongside (disabled ones cost nothing meanwhile).
        await asyncio.gather(
            *(self._delete(twitch_id) for twitch_id, _ in plan.delete),
            *(self._create(want, session_id, scopes) for want in plan.create),
        )
        for key, twitch_id in plan.adopt.items():
            entry = self.statuses[key]
            entry.status, entry.twitch_id, entry.reason = "enabled", twitch_id, None
        for want, why in plan.skip:
            entry = self.statuses[want.key]
            entry.status, entry.reason, entry.retryable = "skipped", why, False
            logger.warning("Skipping EventSub subscription %s: %s", want.type, why)
        return plan

    async def repair(self, session_id: str, scopes: Sequence[str]) -> list[SubscriptionStatus]:
        """Re-read Twitch's list and re-create every subscription shown `enabled` here that
        Twitch no longer lists as enabled on `session_id` (deleted from outside, by another
        app or by hand); returns the ones repaired, so status never claims what is not."""
        existing, _ = await self._existing()
        live = {
            sub.get("id")
            for sub in existing
            if sub.get("status") == "enabled"
            and (sub.get("transport") or {}).get("session_id") == session_id
        }
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
        await self.create(
            [Wanted(s.type, s.version, s.condition) for s in missing], session_id, scopes
        )
        return missing

    async def create(
        self, wanted: Sequence[Wanted], session_id: str, scopes: Sequence[str]
    ) -> None:
        """Create these (a retry round), in parallel."""
        await asyncio.gather(*(self._create(want, session_id, scopes) for want in wanted))

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

    async def _create(self, want: Wanted, session_id: str, scopes: Sequence[str]) -> None:
        transport = {"method": "websocket", "session_id": session_id}
        async with self._limit:
            try:
                created = await self._helix.create_eventsub_subscription(
                    want.type, want.version, want.condition, transport
                )
            except HelixConflict as error:
                existing_id = error.existing_id or await self._find_on_session(want, session_id)
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

    def _permanent_failure(self, want: Wanted, reason: str, scopes: Sequence[str]) -> None:
        self._permanent[want.key] = (tuple(sorted(scopes)), reason)
        self._fail(want.key, reason, retryable=False)
        logger.error("EventSub subscription %s v%s failed: %s", want.type, want.version, reason)

    async def _find_on_session(self, want: Wanted, session_id: str) -> str | None:
        """409 without an id: the subscription exists; find it to adopt it."""
        try:
            existing = await self._helix.list_eventsub_subscriptions(type=want.type)
        except TokenError:
            return None
        for sub in existing:
            same = key_of(sub.get("type", ""), sub.get("version", ""), sub.get("condition") or {})
            if same == want.key and (sub.get("transport") or {}).get("session_id") == session_id:
                return str(sub["id"])
        return None
