"""Webhook messages as Twitch puts them on the wire: headers, signature, body; no I/O.

A webhook message is a POST whose JSON body is what a WebSocket message carries in `payload`;
the WebSocket metadata travel as `Twitch-Eventsub-*` headers, and the signature covers the
message id, the timestamp header and the raw body bytes:
https://dev.twitch.tv/docs/eventsub/handling-webhook-events/#verifying-the-event-message
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

VERIFICATION = "webhook_callback_verification"
#: Twitch's webhook requests name themselves so; receivers should not depend on it.
USER_AGENT = "Twitch-Eventsub-Webhooks/1.0"


@dataclass
class Outgoing:
    """One message as it goes over HTTP: the header values and the exact body bytes."""

    message_id: str
    message_type: str
    timestamp: str
    body: bytes
    sub_type: str | None = None
    sub_version: str | None = None

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Outgoing:
        """From a WebSocket-shaped message: metadata become headers, the payload the body."""
        meta = message["metadata"]
        return cls(
            str(meta["message_id"]),
            str(meta["message_type"]),
            str(meta["message_timestamp"]),
            encode(message["payload"]),
            meta.get("subscription_type"),
            meta.get("subscription_version"),
        )


@dataclass
class Answer:
    """What the callback answered: a status and body, or why there was none."""

    status: int | None = None
    body: bytes = b""
    content_type: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def encode(payload: Any) -> bytes:
    """Compact JSON, as Twitch sends it: verify the raw bytes, never a re-serialisation."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """`sha256=` + lowercase hex HMAC-SHA256 over message id + timestamp + raw body."""
    signed = message_id.encode() + timestamp.encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def headers(secret: str, out: Outgoing, retry: int) -> dict[str, str]:
    """The request headers; a shard's challenge has no subscription type or version."""
    sent = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Twitch-Eventsub-Message-Id": out.message_id,
        "Twitch-Eventsub-Message-Retry": str(retry),
        "Twitch-Eventsub-Message-Type": out.message_type,
        "Twitch-Eventsub-Message-Signature": signature(
            secret, out.message_id, out.timestamp, out.body
        ),
        "Twitch-Eventsub-Message-Timestamp": out.timestamp,
    }
    if out.sub_type is not None:
        sent["Twitch-Eventsub-Subscription-Type"] = out.sub_type
        sent["Twitch-Eventsub-Subscription-Version"] = str(out.sub_version)
    return sent


def challenge_problem(answer: Answer, challenge: str) -> str | None:
    """None when the answer proves the callback: 200 and exactly the challenge as the body."""
    if answer.status is None:
        return answer.error or "no answer"
    if answer.status != 200:
        return f"answered {answer.status}; the challenge needs 200 with the raw challenge"
    if answer.body != challenge.encode():
        return f"answered 200 with {answer.body[:80]!r}, not the raw challenge string"
    return None
