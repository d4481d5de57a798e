"""EventSub subscriptions and Twitch's rules for creating them.

The rules come from https://dev.twitch.tv/docs/api/reference/#create-eventsub-subscription
(status codes) and https://dev.twitch.tv/docs/eventsub/manage-subscriptions/ (cost and limits).

Pure state: `SubscriptionRegistry.create` validates a Create EventSub Subscription body
against the caller's token, the target session and the per-user limits, and raises HelixError
with Twitch's status (400, 401, 403, 409, 410, 429) when a rule is broken.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.catalogue import REMOVED_VERSIONS, SubscriptionType, lookup
from simulator.errors import HelixError
from simulator.oauth import AccessToken
from simulator.sessions import Session
from simulator.wire import rfc3339_nano

#: Twitch's limits per user token (client + user) for the WebSocket transport: total cost 10,
#: 300 enabled subscriptions per connection, 3 connections with enabled subscriptions (see
#: "Subscription limits" in https://dev.twitch.tv/docs/eventsub/handling-websocket-events/).
#: At most 3 subscriptions may share a type and condition:
#: https://dev.twitch.tv/docs/eventsub/manage-subscriptions/
MAX_TOTAL_COST = 10
MAX_PER_CONNECTION = 300
MAX_CONNECTIONS = 3
MAX_SAME_TYPE_AND_CONDITION = 3

#: Statuses a revocation may carry. The revocation message documents the first three; Get
#: EventSub Subscriptions lists the other three as subscription statuses:
#: https://dev.twitch.tv/docs/eventsub/handling-websocket-events/#revocation-message
#: https://dev.twitch.tv/docs/api/reference/#get-eventsub-subscriptions
_MISSING_AUTH = "subscription missing proper authorization"

REVOCATION_STATUSES = (
    "authorization_revoked",
    "user_removed",
    "version_removed",
    "moderator_removed",
    "chat_user_banned",
    "beta_maintenance",
)


@dataclass
class EventSubSubscription:
    """A WebSocket subscription, owned by the (client, user) pair whose token created it."""

    type: str
    version: str
    condition: dict[str, str]
    session_id: str
    connected_at: str
    client_id: str
    user_id: str
    cost: int
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: str = field(default_factory=rfc3339_nano)
    status: str = "enabled"
    disconnected_at: str | None = None

    @property
    def enabled(self) -> bool:
        return self.status == "enabled"

    def public(self) -> dict[str, Any]:
        """The Helix shape (Create/Get EventSub Subscriptions)."""
        transport: dict[str, Any] = {
            "method": "websocket",
            "session_id": self.session_id,
            "connected_at": self.connected_at,
        }
        if self.disconnected_at is not None:
            transport["disconnected_at"] = self.disconnected_at
        return {
            "id": self.id,
            "status": self.status,
            "type": self.type,
            "version": self.version,
            "condition": dict(self.condition),
            "created_at": self.created_at,
            "transport": transport,
            "cost": self.cost,
        }

    def in_message(self) -> dict[str, Any]:
        """The shape inside notification and revocation messages."""
        return {
            "id": self.id,
            "status": self.status,
            "type": self.type,
            "version": self.version,
            "cost": self.cost,
            "condition": dict(self.condition),
            "transport": {"method": "websocket", "session_id": self.session_id},
            "created_at": self.created_at,
        }


def _require_str(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise HelixError(400, f"missing or invalid '{key}'")
    return value


class SubscriptionRegistry:
    """Every subscription ever created (disabled ones stay listed, as on Twitch)."""

    def __init__(
        self,
        user_exists: Callable[[str], bool],
        moderates: Callable[[str, str], bool],
        has_authorized: Callable[[str, str], bool],
    ) -> None:
        self.by_id: dict[str, EventSubSubscription] = {}
        self._user_exists = user_exists
        self._moderates = moderates
        self._has_authorized = has_authorized

    # -- queries ---------------------------------------------------------------------------

    def owned_by(self, client_id: str, user_id: str) -> list[EventSubSubscription]:
        return [s for s in self.by_id.values() if s.client_id == client_id and s.user_id == user_id]

    def on_session(self, session_id: str) -> list[EventSubSubscription]:
        return [s for s in self.by_id.values() if s.session_id == session_id]

    def enabled_on(self, session_id: str) -> list[EventSubSubscription]:
        return [s for s in self.on_session(session_id) if s.enabled]

    def matching(
        self, sub_type: str, version: str, condition: Mapping[str, str] | None = None
    ) -> list[EventSubSubscription]:
        """Enabled subscriptions of this type and version whose condition has these values."""
        return [
            s
            for s in self.by_id.values()
            if s.enabled
            and s.type == sub_type
            and s.version == version
            and all(s.condition.get(k) == v for k, v in (condition or {}).items())
        ]

    @staticmethod
    def totals(subs: Iterable[EventSubSubscription]) -> dict[str, int]:
        subs = list(subs)
        return {
            "total": len(subs),
            "total_cost": sum(s.cost for s in subs if s.enabled),
            "max_total_cost": MAX_TOTAL_COST,
        }

    # -- create ----------------------------------------------------------------------------

    def _rules(self, body: Mapping[str, Any]) -> SubscriptionType:
        sub_type, version = _require_str(body, "type"), _require_str(body, "version")
        if (sub_type, version) in REMOVED_VERSIONS:
            raise HelixError(
                410, f"{sub_type} version {version} has been removed; use a newer version"
            )
        rules = lookup(sub_type, version)
        if rules is None:
            raise HelixError(400, f"invalid subscription type and version: {sub_type} v{version}")
        return rules

    def _condition(self, body: Mapping[str, Any], rules: SubscriptionType) -> dict[str, str]:
        condition = body.get("condition")
        if not isinstance(condition, dict):
            raise HelixError(400, "missing or invalid 'condition'")
        unknown = set(condition) - set(rules.condition_fields)
        if unknown:
            raise HelixError(
                400, f"unexpected condition field {sorted(unknown)[0]!r} for {rules.name}"
            )
        for key in rules.required:
            if not isinstance(condition.get(key), str) or not condition[key]:
                raise HelixError(400, f"condition.{key} is required for {rules.name}")
        if rules.exactly_one_of:
            given = [k for k in rules.exactly_one_of if condition.get(k)]
            if len(given) != 1:
                names = " or ".join(rules.exactly_one_of)
                raise HelixError(400, f"{rules.name} needs exactly one of {names}")
        for key, value in condition.items():
            if not isinstance(value, str):
                raise HelixError(400, f"condition.{key} must be a string")
            if key.endswith("user_id") and value and not self._user_exists(value):
                raise HelixError(400, f"condition.{key}: user {value} does not exist")
        return {k: v for k, v in condition.items() if v}

    def _check_authorization(
        self, token: AccessToken, rules: SubscriptionType, condition: Mapping[str, str]
    ) -> None:
        if not rules.needs_authorization:
            return
        if not set(rules.scopes) & set(token.scopes):
            scopes = " or ".join(rules.scopes)
            raise HelixError(403, f"{_MISSING_AUTH}: {rules.name} needs the scope {scopes}")
        if rules.authorized_field and condition.get(rules.authorized_field) != token.user_id:
            field = rules.authorized_field
            raise HelixError(403, f"{_MISSING_AUTH}: condition.{field} must be the token's user")
        broadcaster = condition.get("broadcaster_user_id", "")
        is_owner = token.user_id == broadcaster
        moderates = token.user_id is not None and self._moderates(token.user_id, broadcaster)
        if rules.needs_moderator and not (is_owner or moderates):
            raise HelixError(
                403, f"{_MISSING_AUTH}: the token's user does not moderate that channel"
            )

    def _cost(self, client_id: str, rules: SubscriptionType, condition: Mapping[str, str]) -> int:
        if rules.needs_authorization:
            return 0
        named = [v for k, v in condition.items() if k.endswith("user_id")]
        return 0 if any(self._has_authorized(client_id, user) for user in named) else 1

    def create(
        self, token: AccessToken, body: Any, session_lookup: Callable[[str], Session | None]
    ) -> EventSubSubscription:
        """Validate a Create EventSub Subscription body and store the subscription."""
        if not isinstance(body, dict):
            raise HelixError(400, "the body must be a JSON object")
        rules = self._rules(body)
        transport = body.get("transport")
        if not isinstance(transport, dict):
            raise HelixError(400, "missing or invalid 'transport'")
        method = transport.get("method")
        needed = {"websocket": "session_id", "webhook": "callback", "conduit": "conduit_id"}
        if method not in needed:
            raise HelixError(400, "transport.method must be websocket, webhook or conduit")
        if not transport.get(needed[method]):
            raise HelixError(400, f"transport.{needed[method]} is required for method {method}")
        if method == "websocket" and token.user_id is None:
            raise HelixError(
                401, "invalid transport and auth combination: websocket needs a user access token"
            )
        if method != "websocket":
            if token.user_id is not None:
                raise HelixError(
                    401,
                    f"invalid transport and auth combination: {method} needs an app access token",
                )
            raise HelixError(
                400, f"the simulator supports only the websocket transport, not {method}"
            )
        assert token.user_id is not None
        condition = self._condition(body, rules)
        self._check_authorization(token, rules, condition)

        session = session_lookup(str(transport["session_id"]))
        if session is None or not session.is_open:
            raise HelixError(
                400, "websocket transport session does not exist or has already disconnected"
            )
        owned = [s for s in self.owned_by(token.client_id, token.user_id) if s.enabled]
        same = [s for s in owned if s.type == rules.name and s.condition == condition]
        if any(s.session_id == session.id and s.version == rules.version for s in same):
            raise HelixError(409, "subscription already exists")
        if len(same) >= MAX_SAME_TYPE_AND_CONDITION:
            limit = MAX_SAME_TYPE_AND_CONDITION
            raise HelixError(429, f"at most {limit} subscriptions may share a type and condition")
        cost = self._cost(token.client_id, rules, condition)
        if sum(s.cost for s in owned) + cost > MAX_TOTAL_COST:
            raise HelixError(429, f"subscription cost exceeds max_total_cost {MAX_TOTAL_COST}")
        if sum(1 for s in owned if s.session_id == session.id) >= MAX_PER_CONNECTION:
            raise HelixError(
                429, f"at most {MAX_PER_CONNECTION} enabled subscriptions per websocket connection"
            )
        sessions_in_use = {s.session_id for s in owned}
        if session.id not in sessions_in_use and len(sessions_in_use) >= MAX_CONNECTIONS:
            raise HelixError(
                429,
                "websocket transports limit exceeded: at most "
                f"{MAX_CONNECTIONS} connections with enabled subscriptions",
            )

        subscription = EventSubSubscription(
            rules.name, rules.version, condition, session.id, session.connected_at,
            token.client_id, token.user_id, cost,
        )  # fmt: skip
        self.by_id[subscription.id] = subscription
        return subscription

    # -- lifecycle -------------------------------------------------------------------------

    def delete(self, client_id: str, user_id: str | None, sub_id: str) -> None:
        sub = self.by_id.get(sub_id)
        if sub is None or sub.client_id != client_id or sub.user_id != user_id:
            raise HelixError(404, f"subscription {sub_id} not found")
        del self.by_id[sub_id]

    def disable_session(self, session_id: str, status: str) -> list[EventSubSubscription]:
        """The session dropped: its enabled subscriptions take `status` and stay listed."""
        now = rfc3339_nano()
        dropped = self.enabled_on(session_id)
        for sub in dropped:
            sub.status, sub.disconnected_at = status, now
        return dropped

    def move(self, old_session_id: str, new_session: Session) -> list[EventSubSubscription]:
        """A reconnect: the enabled subscriptions follow the client to its new session."""
        moved = self.enabled_on(old_session_id)
        for sub in moved:
            sub.session_id, sub.connected_at = new_session.id, new_session.connected_at
        return moved

    def revoke(self, sub_id: str, status: str) -> EventSubSubscription:
        sub = self.by_id.get(sub_id)
        if sub is None:
            raise KeyError(sub_id)
        sub.status = status
        return sub
