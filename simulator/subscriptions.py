"""EventSub subscriptions and Twitch's rules for creating them.

The rules come from https://dev.twitch.tv/docs/api/reference/#create-eventsub-subscription
(status codes) and https://dev.twitch.tv/docs/eventsub/manage-subscriptions/ (cost and limits).

Pure state: `SubscriptionRegistry.create` validates a Create EventSub Subscription body
against the caller's token, the target session, conduit or webhook callback and the limits, and
raises HelixError with Twitch's status (400, 401, 403, 409, 410, 429) when a rule is broken. A
WebSocket subscription belongs to a (client, user) pair; a conduit or webhook subscription, made
with an app token, to the client alone (`user_id` None). A webhook subscription starts
`webhook_callback_verification_pending`; `webhooks` sends the challenge and sets the outcome.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator.catalogue import SubscriptionType
from simulator.errors import HelixError
from simulator.oauth import AccessToken
from simulator.sessions import Session
from simulator.subscription_index import Owner, SubscriptionIndex
from simulator.subscription_rules import SubscriptionRules, type_rules
from simulator.webhook_rules import callback_problem, secret_ok
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
#: Webhook and conduit subscriptions (app tokens) share a far larger cost budget, 10,000 in
#: Twitch's examples: https://dev.twitch.tv/docs/eventsub/manage-subscriptions/
MAX_APP_TOTAL_COST = 10_000

#: Statuses a revocation may carry. The revocation message documents the first three; Get
#: EventSub Subscriptions lists the other three as subscription statuses:
#: https://dev.twitch.tv/docs/eventsub/handling-websocket-events/#revocation-message
#: https://dev.twitch.tv/docs/api/reference/#get-eventsub-subscriptions
REVOCATION_STATUSES = (
    "authorization_revoked",
    "user_removed",
    "version_removed",
    "moderator_removed",
    "chat_user_banned",
    "beta_maintenance",
)
#: What a conduit's subscriptions become when the conduit is deleted (a Get EventSub
#: Subscriptions status value).
CONDUIT_DELETED = "conduit_deleted"
#: A webhook subscription's statuses before it is enabled, and when it stops for failures.
WEBHOOK_PENDING = "webhook_callback_verification_pending"
WEBHOOK_FAILED = "webhook_callback_verification_failed"
FAILURES_EXCEEDED = "notification_failures_exceeded"


@dataclass
class EventSubSubscription:
    """A subscription on a WebSocket session (`session_id`), a conduit (`conduit_id`) or a
    webhook (`callback`, signed with `secret`)."""

    type: str
    version: str
    condition: dict[str, str]
    session_id: str
    connected_at: str
    client_id: str
    #: The token's user; None for a conduit subscription (made with an app token).
    user_id: str | None
    cost: int
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: str = field(default_factory=rfc3339_nano)
    status: str = "enabled"
    disconnected_at: str | None = None
    conduit_id: str | None = None
    #: Conduit and webhook subscriptions: the user whose grant to the client authorizes it.
    authorized_by: str | None = None
    callback: str | None = None
    secret: str | None = field(default=None, repr=False)
    #: Creation number, set by the registry: the order Get pages in and its cursors name.
    seq: int = field(default=0, repr=False, compare=False)

    @property
    def enabled(self) -> bool:
        return self.status == "enabled"

    @property
    def active(self) -> bool:
        """Counts against the limits: enabled, or a webhook waiting for its challenge."""
        return self.status in ("enabled", WEBHOOK_PENDING)

    def _transport(self) -> dict[str, Any]:
        """Never the webhook secret."""
        if self.callback is not None:
            return {"method": "webhook", "callback": self.callback}
        if self.conduit_id is not None:
            return {"method": "conduit", "conduit_id": self.conduit_id}
        return {"method": "websocket", "session_id": self.session_id}

    def public(self) -> dict[str, Any]:
        """The Helix shape (Create/Get EventSub Subscriptions)."""
        transport = self._transport()
        if transport["method"] == "websocket":
            transport["connected_at"] = self.connected_at
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
            "transport": self._transport(),
            "created_at": self.created_at,
        }


class SubscriptionRegistry:
    """Every subscription ever created (disabled ones stay listed, as on Twitch)."""

    def __init__(self, rules: SubscriptionRules, allow_http_callbacks: bool = False) -> None:
        self.by_id: dict[str, EventSubSubscription] = {}
        self.index = SubscriptionIndex()
        self.rules = rules
        self.allow_http_callbacks = allow_http_callbacks
        self._seq = itertools.count(1)

    def _store(self, sub: EventSubSubscription) -> EventSubSubscription:
        sub.seq = next(self._seq)
        self.by_id[sub.id] = sub
        self.index.add(sub)
        return sub

    # -- queries ---------------------------------------------------------------------------

    def owned_by(self, client_id: str, user_id: str | None) -> list[EventSubSubscription]:
        """A user token's WebSocket subscriptions, or (user_id None) the client's conduit and
        webhook ones."""
        return list(self.index.owned((client_id, user_id)))

    def listing(
        self, owner: Owner, filters: Mapping[str, str], after: int
    ) -> Iterator[EventSubSubscription]:
        """Get EventSub Subscriptions: the owner's subscriptions created after the one numbered
        `after`, through at most one filter. The type and user filters read an index; status
        filters as it goes, so paging through everything stays linear."""
        if "subscription_id" in filters:
            sub = self.by_id.get(filters["subscription_id"])
            if sub is not None and (sub.client_id, sub.user_id) == owner and sub.seq > after:
                yield sub
            return
        if "type" in filters:
            source = self.index.of_type(owner, filters["type"])
        elif "user_id" in filters:
            source = self.index.naming(owner, filters["user_id"])
        else:
            source = self.index.owned(owner)
        status = filters.get("status")
        for sub in source.after(after):
            if status is None or sub.status == status:
                yield sub

    def on_session(self, session_id: str) -> list[EventSubSubscription]:
        return [s for s in self.by_id.values() if s.session_id == session_id]

    def enabled_on(self, session_id: str) -> list[EventSubSubscription]:
        return [s for s in self.on_session(session_id) if s.enabled]

    def matching(
        self, sub_type: str, version: str, condition: Mapping[str, str] | None = None
    ) -> list[EventSubSubscription]:
        """Enabled subscriptions of this type and version whose condition has these values."""
        wanted = (condition or {}).items()
        return [
            s
            for s in self.index.of_type_version(sub_type, version)
            if s.enabled and all(s.condition.get(k) == v for k, v in wanted)
        ]

    def on_conduit(self, conduit_id: str) -> list[EventSubSubscription]:
        return self.index.on_conduit(conduit_id)

    def active_cost(self, owner: Owner) -> int:
        return sum(s.cost for s in self.index.costing(owner) if s.active)

    def totals(self, client_id: str, user_id: str | None) -> dict[str, int]:
        """`total`, `total_cost` and `max_total_cost` of Create and Get EventSub Subscriptions."""
        owner = (client_id, user_id)
        return {
            "total": len(self.index.owned(owner)),
            "total_cost": self.active_cost(owner),
            "max_total_cost": MAX_APP_TOTAL_COST if user_id is None else MAX_TOTAL_COST,
        }

    # -- create ----------------------------------------------------------------------------

    def create(
        self,
        token: AccessToken,
        body: Any,
        session_lookup: Callable[[str], Session | None],
        owns_conduit: Callable[[str, str], bool],
    ) -> EventSubSubscription:
        """Validate a Create EventSub Subscription body and store the subscription.

        `owns_conduit(client_id, conduit_id)` says whether that client has that conduit.
        """
        if not isinstance(body, dict):
            raise HelixError(400, "the body must be a JSON object")
        rules = type_rules(body)
        transport = body.get("transport")
        if not isinstance(transport, dict):
            raise HelixError(400, "missing or invalid 'transport'")
        method = transport.get("method")
        needed = {"websocket": "session_id", "webhook": "callback", "conduit": "conduit_id"}
        if method not in needed:
            raise HelixError(400, "transport.method must be websocket, webhook or conduit")
        if not transport.get(needed[method]):
            raise HelixError(400, f"transport.{needed[method]} is required for method {method}")
        if (method == "websocket") != (token.user_id is not None):
            kind = "a user" if method == "websocket" else "an app"
            raise HelixError(
                401, f"invalid transport and auth combination: {method} needs {kind} access token"
            )
        if method == "webhook":
            problem = callback_problem(transport["callback"], self.allow_http_callbacks)
            if problem is not None:
                raise HelixError(400, problem[1])
            if not secret_ok(transport.get("secret")):
                raise HelixError(400, "transport.secret must be 10 to 100 ASCII characters")
        condition = self.rules.condition(body, rules)
        if method == "conduit":
            conduit_id = str(transport["conduit_id"])
            if not owns_conduit(token.client_id, conduit_id):
                raise HelixError(400, "transport.conduit_id names no conduit of this client")
            return self._create_for_app(token, rules, condition, conduit_id=conduit_id)
        if method == "webhook":
            callback, secret = str(transport["callback"]), str(transport["secret"])
            return self._create_for_app(token, rules, condition, callback=callback, secret=secret)
        self.rules.check_user_token(token, rules, condition)
        session = session_lookup(str(transport["session_id"]))
        if session is None or not session.is_open:
            raise HelixError(
                400, "websocket transport session does not exist or has already disconnected"
            )
        return self._create_on_session(token, rules, condition, session)

    @staticmethod
    def _check_shared_limits(same: list[EventSubSubscription]) -> None:
        """`same`: the owner's live subscriptions with this type and condition."""
        if len(same) >= MAX_SAME_TYPE_AND_CONDITION:
            limit = MAX_SAME_TYPE_AND_CONDITION
            raise HelixError(429, f"at most {limit} subscriptions may share a type and condition")

    def _create_on_session(
        self,
        token: AccessToken,
        rules: SubscriptionType,
        condition: dict[str, str],
        session: Session,
    ) -> EventSubSubscription:
        assert token.user_id is not None
        owner = (token.client_id, token.user_id)
        owned = [s for s in self.index.owned(owner) if s.enabled]
        same = [s for s in self.index.same_condition(owner, rules.name, condition) if s.enabled]
        if any(s.session_id == session.id and s.version == rules.version for s in same):
            raise HelixError(409, "subscription already exists")
        self._check_shared_limits(same)
        cost = self.rules.cost(token.client_id, rules, condition)
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
        return self._store(subscription)

    def _create_for_app(
        self,
        token: AccessToken,
        rules: SubscriptionType,
        condition: dict[str, str],
        conduit_id: str | None = None,
        callback: str | None = None,
        secret: str | None = None,
    ) -> EventSubSubscription:
        """A conduit or webhook subscription (app token): 409 for the same type, version,
        condition and conduit or callback; the shared limits; the app cost budget."""
        self.rules.check_app_token(token.client_id, rules, condition)
        owner = (token.client_id, None)
        same = [s for s in self.index.same_condition(owner, rules.name, condition) if s.active]
        if any(
            s.version == rules.version and (s.conduit_id, s.callback) == (conduit_id, callback)
            for s in same
        ):
            raise HelixError(409, "subscription already exists")
        self._check_shared_limits(same)
        cost = self.rules.cost(token.client_id, rules, condition)
        if self.active_cost(owner) + cost > MAX_APP_TOTAL_COST:
            limit = MAX_APP_TOTAL_COST
            raise HelixError(429, f"subscription cost exceeds max_total_cost {limit}")
        subscription = EventSubSubscription(
            rules.name, rules.version, condition, "", "", token.client_id, None, cost,
            conduit_id=conduit_id, authorized_by=self.rules.authorizing_user(rules, condition),
            callback=callback, secret=secret,
            status=WEBHOOK_PENDING if callback is not None else "enabled",
        )  # fmt: skip
        return self._store(subscription)

    # -- lifecycle -------------------------------------------------------------------------

    def disable_conduit(self, conduit_id: str) -> list[EventSubSubscription]:
        """The conduit was deleted: its subscriptions stay listed as conduit_deleted."""
        disabled = [s for s in self.on_conduit(conduit_id) if s.enabled]
        for sub in disabled:
            sub.status = CONDUIT_DELETED
        return disabled

    def delete(self, client_id: str, user_id: str | None, sub_id: str) -> None:
        sub = self.by_id.get(sub_id)
        if sub is None or sub.client_id != client_id or sub.user_id != user_id:
            raise HelixError(404, f"subscription {sub_id} not found")
        del self.by_id[sub_id]
        self.index.remove(sub)

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
