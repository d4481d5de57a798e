"""What subscriptions to keep, create and delete: the pure half of reconciliation.

`plan_reconciliation` decides, from what the workers want and what `GET
/eventsub/subscriptions` lists, what to adopt, create, delete (orphans: another session's,
disabled ones, ones no worker wants) and skip (over the cost or per-connection limit), for a
`Target`: one WebSocket session or a conduit. `gateway.subscriptions` carries plans out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

#: Twitch's limits per user token for WebSocket subscriptions: total cost at most 10, at most 300
#: enabled subscriptions per connection. See "Subscription limits" in
#: https://dev.twitch.tv/docs/eventsub/handling-websocket-events/
MAX_TOTAL_COST = 10
MAX_PER_CONNECTION = 300
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


def estimated_cost(wanted: Wanted, own_user_id: str | Collection[str] | None) -> int:
    """Twitch's cost: 0 when the condition names a user who authorized this client (any of
    `own_user_id`: one id, or every channel's), else 1 for types needing no authorization."""
    if wanted.type not in NO_AUTHORIZATION_TYPES:
        return 0
    named = {v for k, v in wanted.condition.items() if k.endswith("user_id")}
    owned = {own_user_id} if isinstance(own_user_id, str) else set(own_user_id or ())
    return 0 if named & owned else 1


@dataclass(frozen=True)
class Target:
    """Where subscriptions deliver: one WebSocket session (user token), a conduit, or a
    webhook callback (app token; https://dev.twitch.tv/docs/eventsub/handling-conduit-events/,
    https://dev.twitch.tv/docs/eventsub/handling-webhook-events/)."""

    method: Literal["websocket", "conduit", "webhook"]
    id: str
    #: The webhook secret, sent when creating; Twitch never shows it back.
    secret: str | None = field(default=None, repr=False, compare=False)

    @property
    def id_field(self) -> str:
        return {"websocket": "session_id", "conduit": "conduit_id"}.get(self.method, "callback")

    def transport(self) -> dict[str, str]:
        transport = {"method": self.method, self.id_field: self.id}
        if self.secret is not None:
            transport["secret"] = self.secret
        return transport

    def owns(self, transport: dict[str, Any]) -> bool:
        return transport.get("method") == self.method and transport.get(self.id_field) == self.id


def as_target(target: Target | str) -> Target:
    """A bare string is a WebSocket session id."""
    return target if isinstance(target, Target) else Target("websocket", target)


@dataclass
class Plan:
    adopt: dict[SubKey, str] = field(default_factory=dict)
    create: list[Wanted] = field(default_factory=list)
    delete: list[tuple[str, str]] = field(default_factory=list)  # (twitch id, why)
    skip: list[tuple[Wanted, str]] = field(default_factory=list)


def plan_reconciliation(
    wanted: Sequence[Wanted],
    existing: Sequence[dict[str, Any]],
    target: Target | str,
    own_user_id: str | Collection[str] | None = None,
    max_total_cost: int = MAX_TOTAL_COST,
    max_per_connection: int = MAX_PER_CONNECTION,
    exclude: Iterable[SubKey] = (),
) -> Plan:
    """What to do so that exactly the wanted subscriptions are enabled on `target`.

    With a WebSocket session, the token's other WebSocket subscriptions are this app's
    leftovers (earlier sessions) and are deleted; with a conduit, subscriptions on another
    conduit of the same client are left alone (they are not provably ours to delete).

    `exclude` holds keys not to attempt (permanent failures); they are neither created nor
    counted.
    """
    plan = Plan()
    target = as_target(target)
    wanted_keys = {w.key for w in wanted}
    kept_cost = 0
    for sub in existing:
        transport = sub.get("transport") or {}
        if transport.get("method") != target.method:
            continue  # another transport's subscriptions are not this target's to manage
        if target.method != "websocket" and not target.owns(transport):
            continue
        key = key_of(sub.get("type", ""), sub.get("version", ""), sub.get("condition") or {})
        if sub.get("status") != "enabled":
            plan.delete.append((sub["id"], f"disabled ({sub.get('status')})"))
        elif not target.owns(transport):
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
