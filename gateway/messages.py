"""EventSub's wire messages, read once here and turned into our own typed messages.

`parse_frame(text)` is the only place that knows Twitch's envelope (`metadata` + `payload`;
the five message types and their fields are in
https://dev.twitch.tv/docs/eventsub/websocket-reference/ ); everything after it sees these
dataclasses. Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.constants import MAX_MESSAGE_AGE_S
from gateway.errors import MalformedFrame

__all__ = [
    "Keepalive",
    "Message",
    "Notification",
    "Reconnect",
    "Revocation",
    "UnknownMessage",
    "Welcome",
    "is_stale",
    "parse_frame",
    "parse_timestamp",
]

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
        return str(self.subscription.get("status") or "unknown")


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


def parse_frame(text: str | bytes) -> Message:
    """One EventSub frame -> a typed message; MalformedFrame when it is not one."""
    try:
        frame = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedFrame(f"not JSON ({error})") from None
    if not isinstance(frame, dict):
        raise MalformedFrame("not a JSON object")
    metadata, payload = frame.get("metadata"), frame.get("payload")
    if not isinstance(metadata, dict) or not isinstance(payload, dict):
        raise MalformedFrame("metadata or payload is missing")
    message_id = _str(metadata, "message_id", "metadata")
    message_type = _str(metadata, "message_type", "metadata")
    timestamp = _str(metadata, "message_timestamp", "metadata")
    if message_type == "notification":
        if not isinstance(payload.get("subscription"), dict):
            raise MalformedFrame("payload.subscription is missing")
        return Notification(
            message_id,
            timestamp,
            _str(metadata, "subscription_type", "metadata"),
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
