"""EventSub's wire messages, read once here and turned into our own typed messages.

`parse_frame(text)` is the only place that knows Twitch's envelope (`metadata` + `payload`;
the five message types and their fields are in
https://dev.twitch.tv/docs/eventsub/websocket-reference/ ); everything after it sees these
dataclasses. Pure: no I/O.

What comes off the socket is checked before anything trusts it: JSON nesting is bounded
(`EVENTSUB_MAX_JSON_DEPTH`, so a crafted frame cannot exhaust the parser's recursion), and a
notification's subscription type must look like an EventSub type name, because it becomes a
bus key (`eventsub:{type}`) and a metrics label. A frame that fails is a MalformedFrame: the
gateway logs it once and skips it, and the session goes on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.constants import MAX_MESSAGE_AGE_S
from core.jsonlimits import EVENTSUB_MAX_JSON_DEPTH, JsonTooDeep, loads_limited
from gateway.errors import MalformedFrame

__all__ = [
    "MAX_CLOCK_SKEW_S",
    "MAX_SUBSCRIPTION_TYPE_CHARS",
    "Keepalive",
    "Message",
    "Notification",
    "Reconnect",
    "Revocation",
    "UnknownMessage",
    "Welcome",
    "is_from_the_future",
    "is_stale",
    "is_subscription_type",
    "parse_frame",
    "parse_timestamp",
]

#: How far in the future a message's timestamp may be. Twitch stamps a message when it sends
#: it, so a later time means our clock is behind or the message is forged. Refusing it keeps
#: the replay guard whole: a message dated an hour ahead would pass the 10-minute age check
#: for 70 minutes, outliving its de-duplication key (15 minutes), so a replay of it would be
#: handled twice. 60 s tolerates a drifting clock, and 10 min + 60 s stays under the key's TTL.
MAX_CLOCK_SKEW_S = 60.0

#: EventSub type names are lowercase words joined by dots (`channel.chat.message`,
#: `channel.channel_points_custom_reward_redemption.add`, 51 characters, the longest today).
#: The type becomes the bus key `eventsub:{type}` and a metrics label, so anything else,
#: or longer than MAX_SUBSCRIPTION_TYPE_CHARS, is refused as malformed.
_SUBSCRIPTION_TYPE = re.compile(r"[a-z0-9_]+(\.[a-z0-9_]+)+")
MAX_SUBSCRIPTION_TYPE_CHARS = 100
#: Twitch's message ids are UUIDs (36 characters); a longer one is not Twitch's.
MAX_MESSAGE_ID_CHARS = 100
#: A revocation's status: one lowercase word such as `authorization_revoked`.
_STATUS = re.compile(r"[a-z0-9_]{1,64}")

# -- typed messages (our types; the wire shape is read only in parse_frame) ----------------------


@dataclass(frozen=True, slots=True)
class Welcome:
    message_id: str
    timestamp: str
    session_id: str
    keepalive_timeout_s: int | None
    connected_at: str | None


@dataclass(frozen=True, slots=True)
class Keepalive:
    message_id: str
    timestamp: str


@dataclass(frozen=True, slots=True)
class Notification:
    """One event. `payload` is {"subscription": ..., "event": ...} exactly as Twitch sent it."""

    message_id: str
    timestamp: str
    subscription_type: str
    subscription_version: str
    payload: dict[str, Any]

    @property
    def subscription_id(self) -> str | None:
        sub = self.payload.get("subscription")
        return sub.get("id") if isinstance(sub, dict) else None


@dataclass(frozen=True, slots=True)
class Reconnect:
    message_id: str
    timestamp: str
    reconnect_url: str | None


@dataclass(frozen=True, slots=True)
class Revocation:
    message_id: str
    timestamp: str
    subscription: dict[str, Any]

    @property
    def status(self) -> str:
        """Twitch's reason (`authorization_revoked`, ...); it keys a counter, so anything
        that is not such a short word reads `unknown`."""
        status = self.subscription.get("status")
        if isinstance(status, str) and _STATUS.fullmatch(status):
            return status
        return "unknown"


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    message_id: str
    timestamp: str
    message_type: str


Message = Welcome | Keepalive | Notification | Reconnect | Revocation | UnknownMessage


def _str(mapping: dict[str, Any], key: str, where: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedFrame(f"{where}.{key} is missing or not a string")
    return value


def is_subscription_type(name: str) -> bool:
    """True for a plausible EventSub type name (see `_SUBSCRIPTION_TYPE`)."""
    return len(name) <= MAX_SUBSCRIPTION_TYPE_CHARS and bool(_SUBSCRIPTION_TYPE.fullmatch(name))


def _subscription_type(metadata: dict[str, Any]) -> str:
    name = _str(metadata, "subscription_type", "metadata")
    if not is_subscription_type(name):
        raise MalformedFrame(
            f"metadata.subscription_type {name[:40]!r} ({len(name)} characters) is not an "
            "EventSub type name (lowercase words joined by dots, at most "
            f"{MAX_SUBSCRIPTION_TYPE_CHARS} characters)"
        )
    return name


def parse_frame(text: str | bytes) -> Message:
    """One EventSub frame -> a typed message; MalformedFrame when it is not one."""
    try:
        frame = loads_limited(text, EVENTSUB_MAX_JSON_DEPTH)
    except JsonTooDeep as error:
        raise MalformedFrame(f"{error}; frame length {len(text)}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedFrame(f"not JSON ({error})") from None
    if not isinstance(frame, dict):
        raise MalformedFrame("not a JSON object")
    metadata, payload = frame.get("metadata"), frame.get("payload")
    if not isinstance(metadata, dict) or not isinstance(payload, dict):
        raise MalformedFrame("metadata or payload is missing")
    message_id = _str(metadata, "message_id", "metadata")
    if len(message_id) > MAX_MESSAGE_ID_CHARS:
        # It becomes a Redis key (dedupe:eventsub:{message_id}): bound it like the type.
        raise MalformedFrame(
            f"metadata.message_id is {len(message_id)} characters long (Twitch's are UUIDs; "
            f"at most {MAX_MESSAGE_ID_CHARS} are accepted)"
        )
    message_type = _str(metadata, "message_type", "metadata")
    timestamp = _str(metadata, "message_timestamp", "metadata")
    if message_type == "notification":
        if not isinstance(payload.get("subscription"), dict):
            raise MalformedFrame("payload.subscription is missing")
        return Notification(
            message_id,
            timestamp,
            _subscription_type(metadata),
            _str(metadata, "subscription_version", "metadata"),
            payload,
        )
    if message_type == "session_keepalive":
        return Keepalive(message_id, timestamp)
    if message_type in ("session_welcome", "session_reconnect"):
        session = payload.get("session")
        if not isinstance(session, dict):
            raise MalformedFrame("payload.session is missing")
        if message_type == "session_reconnect":
            # The URL lives at payload.session.reconnect_url (not payload.reconnect_url).
            url = session.get("reconnect_url")
            return Reconnect(message_id, timestamp, url if isinstance(url, str) else None)
        keepalive = session.get("keepalive_timeout_seconds")
        return Welcome(
            message_id,
            timestamp,
            _str(session, "id", "payload.session"),
            keepalive if isinstance(keepalive, int) and keepalive > 0 else None,
            session.get("connected_at"),
        )
    if message_type == "revocation":
        subscription = payload.get("subscription")
        if not isinstance(subscription, dict):
            raise MalformedFrame("payload.subscription is missing")
        return Revocation(message_id, timestamp, subscription)
    return UnknownMessage(message_id, timestamp, message_type)


def parse_timestamp(value: str) -> float | None:
    """RFC3339 with up to nanoseconds (Python 3.11 truncates to microseconds) -> Unix seconds."""
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def is_stale(timestamp: str, wall_now: float, max_age_s: float = MAX_MESSAGE_AGE_S) -> bool:
    """True when a message is older than the replay window; unparseable counts as stale.

    Twitch advises rejecting messages whose timestamp is more than 10 minutes old:
    https://dev.twitch.tv/docs/eventsub/#guarding-against-replay-attacks
    """
    sent_at = parse_timestamp(timestamp)
    return sent_at is None or wall_now - sent_at > max_age_s


def is_from_the_future(
    timestamp: str, wall_now: float, max_skew_s: float = MAX_CLOCK_SKEW_S
) -> bool:
    """True when a message claims to be sent more than `max_skew_s` after `wall_now`
    (an unparseable timestamp is for `is_stale` to refuse)."""
    sent_at = parse_timestamp(timestamp)
    return sent_at is not None and sent_at - wall_now > max_skew_s
