"""EventSub WebSocket messages as Twitch puts them on the wire, built without any I/O.

Every message is one JSON text frame `{"metadata": ..., "payload": ...}`. Timestamps are RFC3339
with nine fraction digits and a `Z`, like `2023-07-19T14:56:51.634234626Z`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any


def rfc3339_nano(epoch_ns: int | None = None) -> str:
    """A UTC timestamp with nanoseconds, e.g. `2023-07-19T14:56:51.634234626Z`."""
    ns = time.time_ns() if epoch_ns is None else epoch_ns
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def new_message_id() -> str:
    """An opaque, UUID-like message id."""
    return str(uuid.uuid4())


def _metadata(
    message_type: str,
    *,
    timestamp_ns: int | None = None,
    subscription: dict[str, Any] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "message_id": new_message_id(),
        "message_type": message_type,
        "message_timestamp": rfc3339_nano(timestamp_ns),
    }
    if subscription is not None:
        metadata["subscription_type"] = subscription["type"]
        metadata["subscription_version"] = subscription["version"]
    return metadata


def welcome(session_id: str, connected_at: str, keepalive_timeout_s: int) -> dict[str, Any]:
    """The first message on every socket; `reconnect_url` is always null here."""
    return {
        "metadata": _metadata("session_welcome"),
        "payload": {
            "session": {
                "id": session_id,
                "status": "connected",
                "connected_at": connected_at,
                "keepalive_timeout_seconds": keepalive_timeout_s,
                "reconnect_url": None,
                "recovery_url": None,
            }
        },
    }


def keepalive() -> dict[str, Any]:
    """Sent when nothing else was sent within the keepalive timeout."""
    return {"metadata": _metadata("session_keepalive"), "payload": {}}


def notification(
    subscription: dict[str, Any], event: dict[str, Any], *, timestamp_ns: int | None = None
) -> dict[str, Any]:
    """An event for one subscription; `subscription` is its public (Helix) shape."""
    return {
        "metadata": _metadata("notification", timestamp_ns=timestamp_ns, subscription=subscription),
        "payload": {"subscription": subscription, "event": event},
    }


def session_reconnect(session_id: str, connected_at: str, reconnect_url: str) -> dict[str, Any]:
    """Tells the client to open `reconnect_url`; the URL is inside `payload.session`."""
    return {
        "metadata": _metadata("session_reconnect"),
        "payload": {
            "session": {
                "id": session_id,
                "status": "reconnecting",
                "keepalive_timeout_seconds": None,
                "reconnect_url": reconnect_url,
                "connected_at": connected_at,
                "recovery_url": None,
            }
        },
    }


def revocation(subscription: dict[str, Any]) -> dict[str, Any]:
    """A subscription ended by Twitch; the payload holds only `subscription` (no event)."""
    return {
        "metadata": _metadata("revocation", subscription=subscription),
        "payload": {"subscription": subscription},
    }
