"""A user revokes the app ("Disconnect" in Twitch's Connections settings), as Twitch handles it.

Every access and refresh token of that user dies; the subscriptions that needed the user's
authorization are revoked with `authorization_revoked` (their owners get a `revocation`
message); and each client the user had authorized is told with a `user.authorization.revoke`
notification (condition `client_id`; event `client_id`, `user_id`, `user_login`, `user_name`,
the last two null when the user no longer exists). Twitch offers that type to webhooks and
conduits only: https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/#userauthorizationrevoke

Other users' tokens and subscriptions are untouched, and so are subscriptions that need no
authorization (a `stream.online` naming the user costs 1 again from now on, but lives on).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator.catalogue import USER_AUTHORIZATION_REVOKE, lookup
from simulator.errors import HelixError
from simulator.subscription_index import named_users
from simulator.subscriptions import EventSubSubscription

if TYPE_CHECKING:
    from simulator.state import SimulatorState

REVOKED = "authorization_revoked"


def _still_authorized(state: SimulatorState, sub: EventSubSubscription) -> bool:
    """Whether an app-token subscription would still be accepted now. Chat types also lean on
    other users' grants (the broadcaster's `channel:bot`), so the rules are asked again."""
    rules = lookup(sub.type, sub.version)
    if rules is None or not rules.needs_authorization:
        return True
    try:
        state.subscriptions.rules.check_app_token(sub.client_id, rules, sub.condition)
    except HelixError:
        return False
    return True


def _needs_user(state: SimulatorState, sub: EventSubSubscription, user_id: str) -> bool:
    """Whether `sub` dies with `user_id`'s grant (called after the grant is gone)."""
    if not sub.enabled:
        return False
    if user_id in (sub.user_id, sub.authorized_by):
        return True
    return (
        sub.user_id is None
        and user_id in named_users(sub.condition)
        and (not _still_authorized(state, sub))
    )


def revoke_authorization(state: SimulatorState, user_id: str) -> dict[str, Any]:
    """Revoke everything `user_id` granted; the control API's answer."""
    clients = state.oauth.clients_granted_by(user_id)
    tokens = state.oauth.revoke_user(user_id)
    revoked = [
        state.revoke_subscription(sub.id, REVOKED)["subscription"]["id"]
        for sub in list(state.subscriptions.by_id.values())
        if _needs_user(state, sub, user_id)
    ]
    user = state.users_by_id.get(user_id)
    message_ids: list[str] = []
    for client_id in sorted(clients):
        event = {
            "client_id": client_id,
            "user_id": user_id,
            "user_login": user.login if user else None,
            "user_name": user.display_name if user else None,
        }
        for sub in state.subscriptions.matching(
            USER_AUTHORIZATION_REVOKE, "1", {"client_id": client_id}
        ):
            if sub.client_id == client_id:
                message_id = state.deliver(sub, event)
                if message_id is not None:
                    message_ids.append(message_id)
    return {
        "user_id": user_id,
        "tokens": tokens,
        "revoked_subscriptions": revoked,
        "clients_notified": sorted(clients),
        "message_ids": message_ids,
    }
