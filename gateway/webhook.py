"""EventSub webhook messages: verify, classify and turn them into the gateway's own types.

Pure (no I/O): `read_webhook(headers, body, secrets, now)` answers what the callback must do.
Twitch's rules (https://dev.twitch.tv/docs/eventsub/handling-webhook-events/):
- the signature is `sha256=` + hex HMAC-SHA256 over message id + timestamp header + the raw
  body, with the subscription's secret; it is checked, in constant time, before any JSON is
  parsed (re-serialising would change the bytes); a mismatch is refused (403);
- a message older than 10 minutes is a replay and dropped; so is one dated beyond the clock
  skew we tolerate (the replay guard would otherwise be outlived);
- `webhook_callback_verification` is answered with the raw challenge as text/plain; a
  conduit's webhook shard is verified the same way, its body naming `conduit_shard` instead of
  a subscription (https://dev.twitch.tv/docs/eventsub/handling-conduit-events/);
- a `notification` is handed off (de-duplicated by message id, the same key as over the
  WebSocket, so a retry or a conduit's second delivery is stored once);
- a `revocation` is handled like the WebSocket path's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.jsonlimits import EVENTSUB_MAX_JSON_DEPTH, JsonTooDeep, loads_limited
from gateway.messages import (
    MAX_MESSAGE_ID_CHARS,
    Notification,
    Revocation,
    is_from_the_future,
    is_stale,
    is_subscription_type,
    parse_timestamp,
)

__all__ = [
    "Challenge",
    "Refused",
    "WebhookMessage",
    "read_webhook",
    "sign",
]

ID = "twitch-eventsub-message-id"
TYPE = "twitch-eventsub-message-type"
SIGNATURE = "twitch-eventsub-message-signature"
TIMESTAMP = "twitch-eventsub-message-timestamp"
SUB_TYPE = "twitch-eventsub-subscription-type"
SUB_VERSION = "twitch-eventsub-subscription-version"
REQUIRED = (ID, TYPE, SIGNATURE, TIMESTAMP)


@dataclass(frozen=True, slots=True)
class Challenge:
    """Answer 200 with exactly this text (text/plain)."""

    text: str
    #: The subscription verified, or, for a conduit's webhook shard, {} (see `conduit_shard`).
    subscription: dict[str, Any]
    conduit_shard: dict[str, Any] | None = None

    def describe(self) -> str:
        if self.conduit_shard is not None:
            shard = self.conduit_shard
            return f"conduit {shard.get('conduit_id')} shard {shard.get('shard')}"
        return f"subscription {self.subscription.get('type')}"


@dataclass(frozen=True, slots=True)
class Refused:
    """Answer `status` with this JSON error; `log` says why, in one line, for the operator."""

    status: int
    code: str
    message: str


WebhookMessage = Challenge | Notification | Revocation | Refused


def sign(secret: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    """The `Twitch-Eventsub-Message-Signature` header value for these parts."""
    return _signature(secret, message_id.encode() + timestamp.encode() + body)


def _signature(secret: bytes, signed: bytes) -> str:
    # hmac.digest: OpenSSL's one-shot HMAC, the same bytes as hmac.new(...).digest(), faster.
    return "sha256=" + hmac.digest(secret, signed, hashlib.sha256).hex()


def _signed_by(secrets: Sequence[bytes], headers: Mapping[str, str], body: bytes) -> bool:
    given = headers[SIGNATURE].encode()
    signed = headers[ID].encode() + headers[TIMESTAMP].encode() + body
    return any(
        hmac.compare_digest(_signature(secret, signed).encode(), given) for secret in secrets
    )


def _parse_json(body: bytes) -> Any:
    """`loads_limited(body, EVENTSUB_MAX_JSON_DEPTH)`, without its depth scan when the body
    cannot nest that deep: it has no more opening brackets than the limit (counted as bytes,
    strings and any encoding included, so never fewer than it nests). The same result and the
    same errors either way (json.loads decodes bytes as loads_limited does)."""
    if body.count(b"{") + body.count(b"[") <= EVENTSUB_MAX_JSON_DEPTH:
        return json.loads(body)
    return loads_limited(body, EVENTSUB_MAX_JSON_DEPTH)


def read_webhook(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[bytes], now: float
) -> WebhookMessage:
    """What one webhook request is. `headers` have lower-case names."""
    missing = [name for name in REQUIRED if not headers.get(name)]
    if missing:
        return Refused(400, "missing_headers", f"missing {', '.join(missing)}")
    if not _signed_by(secrets, headers, body):
        return Refused(403, "bad_signature", "the signature does not match the webhook secret")
    message_id, timestamp = headers[ID], headers[TIMESTAMP]
    if len(message_id) > MAX_MESSAGE_ID_CHARS:
        return Refused(400, "bad_message_id", "the message id is too long to be Twitch's")
    if parse_timestamp(timestamp) is None:
        return Refused(400, "bad_timestamp", "the message timestamp is not RFC 3339")
    if is_stale(timestamp, now):
        return Refused(400, "stale", "the message is older than 10 minutes (a replay)")
    if is_from_the_future(timestamp, now):
        return Refused(400, "from_the_future", "the message is dated ahead of this clock")
    try:
        payload = _parse_json(body)
    except (JsonTooDeep, ValueError, UnicodeDecodeError) as error:
        return Refused(400, "bad_body", f"the body is not acceptable JSON ({error})")
    kind = headers[TYPE]
    if kind == "webhook_callback_verification" and isinstance(payload, dict):
        shard = payload.get("conduit_shard")
        if isinstance(shard, dict) and not isinstance(payload.get("subscription"), dict):
            challenge = payload.get("challenge")
            if not isinstance(challenge, str) or not challenge:
                return Refused(400, "bad_body", "the verification has no challenge")
            return Challenge(challenge, {}, shard)
    if not isinstance(payload, dict) or not isinstance(payload.get("subscription"), dict):
        return Refused(400, "bad_body", "the body has no subscription object")
    subscription: dict[str, Any] = payload["subscription"]
    if kind == "webhook_callback_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            return Refused(400, "bad_body", "the verification has no challenge")
        return Challenge(challenge, subscription)
    if kind == "revocation":
        return Revocation(message_id, timestamp, subscription)
    if kind != "notification":
        return Refused(400, "unknown_type", f"unknown message type {kind[:40]!r}")
    sub_type = headers.get(SUB_TYPE) or str(subscription.get("type") or "")
    version = headers.get(SUB_VERSION) or str(subscription.get("version") or "")
    if not is_subscription_type(sub_type) or not version:
        return Refused(400, "bad_subscription_type", "the subscription type is not EventSub's")
    return Notification(message_id, timestamp, sub_type, version, payload)
