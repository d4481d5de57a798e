"""Which channel an event belongs to: the broadcaster a notification was subscribed for.

Every event emitted while a worker handles a notification carries that channel (`{"id",
"login"}` in the envelope), so clients filter on it (`/ws/events?channel=`) and keys bound to
one channel never see another's. System events carry none.

The channel of an EventSub notification is the broadcaster its subscription's condition names
(https://dev.twitch.tv/docs/eventsub/eventsub-reference/#conditions): `broadcaster_user_id` for
most types, `to_broadcaster_user_id` for a raid into the channel, `from_broadcaster_user_id`
for one out of it, `user_id` for the user-scoped types.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ChannelTag", "channel_of"]

#: Condition fields naming the channel, in the order they are looked at.
_CONDITION_FIELDS = (
    "broadcaster_user_id",
    "to_broadcaster_user_id",
    "from_broadcaster_user_id",
    "user_id",
)


@dataclass(frozen=True, slots=True)
class ChannelTag:
    """A channel as events name it: the broadcaster's id (what filters match) and login."""

    id: str
    login: str | None = None

    def as_json(self) -> str:
        """Compact JSON, as the envelope and the event log carry it."""
        return json.dumps({"id": self.id, "login": self.login}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> ChannelTag | None:
        if not text:
            return None
        try:
            value = json.loads(text)
            return cls(str(value["id"]), value.get("login"))
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def channel_of(payload: Any) -> ChannelTag | None:
    """The channel of a notification payload (`{"subscription", "event"}`), or None."""
    if not isinstance(payload, dict):
        return None
    condition = (payload.get("subscription") or {}).get("condition") or {}
    event = payload.get("event") or {}
    if not isinstance(condition, dict) or not isinstance(event, dict):
        return None
    for field in _CONDITION_FIELDS:
        channel_id = condition.get(field)
        if channel_id:
            login_field = field.removesuffix("_id") + "_login"
            login = event.get(login_field)
            return ChannelTag(str(channel_id), str(login) if login else None)
    return None
