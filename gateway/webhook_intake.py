"""What the webhook callback does with a request, apart from HTTP: verify, hand off, answer.

`WebhookIntake.take(headers, body)` returns the answer (status, content type, body). A
notification is answered 2xx only once it is in the durable, de-duplicated hand-off (the same
one the WebSocket gateway feeds), so a Twitch retry after a crash or a 503 is stored exactly
once. When the bus does not answer within APPEND_TIMEOUT_S the answer is 503, well inside
Twitch's few seconds, and Twitch retries.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bus import Bus, BusUnavailable
from core.errors import StreamCoreError
from gateway.handoff import Handoff
from gateway.messages import Notification, Revocation
from gateway.protocol import Revoked
from gateway.upkeep import handle_revocation
from gateway.webhook import Challenge, Refused, read_webhook
from tokens.manager import TokenManager
from tokens.webhook_secret import WebhookSecret

logger = logging.getLogger("streamcore.gateway")

#: Longest wait for the bus before answering 503 (Twitch waits a few seconds, then retries).
APPEND_TIMEOUT_S = 2.0
RETRY_AFTER_S = "2"
#: Least time between two re-reads of the stored secret prompted by bad signatures.
RELOAD_EVERY_S = 1.0

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    content_type: str | None = None
    body: bytes = b""
    retry_after: str | None = None


def _json(status: int, code: str, message: str, retry_after: str | None = None) -> Answer:
    body = json.dumps({"error": code, "message": message}).encode()
    return Answer(status, "application/json", body, retry_after)


class WebhookIntake:
    def __init__(
        self,
        bus: Bus,
        tokens: TokenManager,
        emit: Emit,
        secret: WebhookSecret,
        stream_maxlen: int,
        reload: Callable[[], Awaitable[WebhookSecret | None]] | None = None,
    ) -> None:
        self.handoff = Handoff(bus, stream_maxlen)
        #: Re-reads the stored secret: replicas that generated theirs at once converge on the
        #: stored one, and a rotation made by another replica is picked up.
        self._reload = reload
        self._reloaded_at = 0.0
        self._tokens = tokens
        self._emit = emit
        self.secret = secret
        self.received: Counter[str] = Counter()
        self.deduplicated: Counter[str] = Counter()
        #: Refused requests by reason (bad_signature, stale, ...), for status and metrics.
        self.refused: Counter[str] = Counter()
        self.verified = 0
        self.unavailable = 0

    def status(self) -> dict[str, Any]:
        return {
            "received": dict(self.received),
            "deduplicated": dict(self.deduplicated),
            "refused": dict(self.refused),
            "verified": self.verified,
            "bus_unavailable": self.unavailable,
        }

    async def refresh_secret(self) -> WebhookSecret:
        """The stored secret, adopted (the keepers sign up with this before each round)."""
        if self._reload is not None:
            try:
                fresh = await self._reload()
            except StreamCoreError as error:  # the store is away: keep the one we have
                logger.warning("Could not re-read the webhook secret (%s)", error)
                return self.secret
            if fresh is not None:
                self.secret = fresh
        return self.secret

    async def take(self, headers: Mapping[str, str], body: bytes, peer: str) -> Answer:
        message = read_webhook(headers, body, self.secret.accepted(), time.time())
        if isinstance(message, Refused) and message.code == "bad_signature":
            now = time.monotonic()
            if self._reload is not None and now - self._reloaded_at >= RELOAD_EVERY_S:
                # Maybe signed with a secret another replica stored: read it, check again.
                self._reloaded_at = now
                before = self.secret.accepted()
                if (await self.refresh_secret()).accepted() != before:
                    message = read_webhook(headers, body, self.secret.accepted(), time.time())
        match message:
            case Refused(status=status, code=code, message=text):
                self.refused[code] += 1
                logger.warning("Webhook request from %s refused (%s): %s", peer, status, text)
                return _json(status, code, text)
            case Challenge(text=text):
                self.verified += 1
                logger.info("Webhook %s verified", message.describe())
                return Answer(200, "text/plain", text.encode())
            case Revocation(subscription=sub):
                await handle_revocation(Revoked(sub, message.status), self._emit, self._tokens)
                return Answer(204)
            case Notification():
                return await self._hand_off(message)

    async def _hand_off(self, notification: Notification) -> Answer:
        try:
            async with asyncio.timeout(APPEND_TIMEOUT_S):
                entry_id = await self.handoff.try_deliver(notification)
        except (BusUnavailable, TimeoutError) as error:
            self.unavailable += 1
            reason = str(error) or f"no answer within {APPEND_TIMEOUT_S:g} s"
            logger.warning("Webhook notification not stored (%s): answered 503", reason)
            return _json(503, "backend_unavailable", "not stored; retry", RETRY_AFTER_S)
        self.received[notification.subscription_type] += 1
        if entry_id is None:
            self.deduplicated[notification.subscription_type] += 1
        return Answer(204)
