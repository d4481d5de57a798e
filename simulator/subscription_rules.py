"""Twitch's rules for a Create EventSub Subscription body: type, condition, authorization, cost.

A user token (WebSocket transport) authorizes with its own scopes and user. An app token
(conduit or webhook transport) carries no user: the user the condition names must have
authorized this client id with one of the type's scopes, as Twitch checks it for app tokens.
Sources:
https://dev.twitch.tv/docs/api/reference/#create-eventsub-subscription (status codes),
https://dev.twitch.tv/docs/eventsub/manage-subscriptions/ (cost, authorization) and
https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/ (scopes per type).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from simulator.catalogue import REMOVED_VERSIONS, SubscriptionType, lookup
from simulator.errors import HelixError
from simulator.oauth import AccessToken

MISSING_AUTH = "subscription missing proper authorization"


def require_str(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise HelixError(400, f"missing or invalid '{key}'")
    return value


def type_rules(body: Mapping[str, Any]) -> SubscriptionType:
    """The catalogue entry for the body's type and version (410 removed, 400 unknown)."""
    sub_type, version = require_str(body, "type"), require_str(body, "version")
    if (sub_type, version) in REMOVED_VERSIONS:
        raise HelixError(410, f"{sub_type} version {version} has been removed; use a newer version")
    rules = lookup(sub_type, version)
    if rules is None:
        raise HelixError(400, f"invalid subscription type and version: {sub_type} v{version}")
    return rules


class SubscriptionRules:
    """Checks a condition against the simulated users, grants and moderators."""

    def __init__(
        self,
        user_exists: Callable[[str], bool],
        moderates: Callable[[str, str], bool],
        has_authorized: Callable[[str, str], bool],
        granted_scope: Callable[[str, str, str], bool],
    ) -> None:
        self._user_exists = user_exists
        self._moderates = moderates
        self._has_authorized = has_authorized
        self._granted_scope = granted_scope

    def condition(self, body: Mapping[str, Any], rules: SubscriptionType) -> dict[str, str]:
        """The body's condition, complete and naming only existing users (400 otherwise)."""
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

    def check_user_token(
        self, token: AccessToken, rules: SubscriptionType, condition: Mapping[str, str]
    ) -> None:
        """WebSocket: the token's own scopes, and its user is the one the condition needs."""
        if rules.app_token_only:
            raise HelixError(403, f"{MISSING_AUTH}: {rules.name} needs an app access token")
        if not rules.needs_authorization:
            return
        if not set(rules.scopes) & set(token.scopes):
            scopes = " or ".join(rules.scopes)
            raise HelixError(403, f"{MISSING_AUTH}: {rules.name} needs the scope {scopes}")
        if rules.authorized_field and condition.get(rules.authorized_field) != token.user_id:
            field = rules.authorized_field
            raise HelixError(403, f"{MISSING_AUTH}: condition.{field} must be the token's user")
        assert token.user_id is not None
        self._check_moderator(token.user_id, rules, condition)

    def check_app_token(
        self, client: str, rules: SubscriptionType, condition: Mapping[str, str]
    ) -> None:
        """Conduit or webhook (an app token of `client`): the condition's user must have
        granted this client a scope. Also asked again when a user revokes the client, to find
        the subscriptions that no longer hold."""
        if rules.app_token_only:
            if condition.get("client_id") != client:
                raise HelixError(
                    403, f"{MISSING_AUTH}: condition.client_id must be the token's client id"
                )
            return
        if not rules.needs_authorization:
            return
        field = rules.authorized_field or "broadcaster_user_id"
        user = condition.get(field, "")
        if not any(self._granted_scope(client, user, scope) for scope in rules.scopes):
            scopes = " or ".join(rules.scopes)
            raise HelixError(
                403,
                f"{MISSING_AUTH}: the user in condition.{field} has not authorized this client "
                f"with {scopes}",
            )
        self._check_moderator(user, rules, condition)
        if rules.app_token_needs_bot:
            broadcaster = condition.get("broadcaster_user_id", "")
            if not self._granted_scope(client, user, "user:bot"):
                raise HelixError(403, f"{MISSING_AUTH}: the chatting user has not granted user:bot")
            moderates = user == broadcaster or self._moderates(user, broadcaster)
            if not (moderates or self._granted_scope(client, broadcaster, "channel:bot")):
                raise HelixError(
                    403,
                    f"{MISSING_AUTH}: the broadcaster has not granted channel:bot and the "
                    "chatting user is not a moderator",
                )

    def _check_moderator(
        self, user: str, rules: SubscriptionType, condition: Mapping[str, str]
    ) -> None:
        broadcaster = condition.get("broadcaster_user_id", "")
        moderates = user == broadcaster or self._moderates(user, broadcaster)
        if rules.needs_moderator and not moderates:
            raise HelixError(
                403, f"{MISSING_AUTH}: the authorizing user does not moderate that channel"
            )

    def cost(self, client_id: str, rules: SubscriptionType, condition: Mapping[str, str]) -> int:
        """0 for a type that needs authorization; 1 for one that names a user who has not
        authorized this client; 0 when it names no user at all."""
        if rules.needs_authorization:
            return 0
        named = [v for k, v in condition.items() if k.endswith("user_id")]
        if not named:
            return 0
        return 0 if any(self._has_authorized(client_id, user) for user in named) else 1

    @staticmethod
    def authorizing_user(rules: SubscriptionType, condition: Mapping[str, str]) -> str | None:
        """For an app-token subscription: whose grant keeps it alive (None: no one's)."""
        if not rules.needs_authorization:
            return None
        return condition.get(rules.authorized_field or "broadcaster_user_id")
