"""EventSub over webhooks: the challenge, signed notifications, retries and revocations.

What Twitch does (https://dev.twitch.tv/docs/eventsub/handling-webhook-events/), and so what the
simulator does:
- every message is a POST whose JSON body is the WebSocket message's `payload`, with the
  metadata in `Twitch-Eventsub-*` headers, signed `sha256=HMAC-SHA256(secret, message id +
  timestamp + raw body)` in lowercase hex;
- a new subscription (or webhook shard) first gets a `webhook_callback_verification` message
  with a random `challenge`; only a 200 whose body is exactly the challenge enables it, anything
  else (or no answer within the challenge timeout) fails it;
- a notification not answered 2XX within a few seconds is sent again, same message id and
  timestamp, `Twitch-Eventsub-Message-Retry` counting up; too many failures in a row revoke the
  subscription (`notification_failures_exceeded`, announced by a `revocation` message).

Twitch documents neither the retry schedule nor the failure count, so the simulator's are
config: a doubling back-off from `webhook_retry_base_s` up to `webhook_retry_max_s`, and
`webhook_failure_limit` consecutive failed POSTs (a 2XX resets the count). A revocation is POSTed
once. A conduit's webhook shard gets one POST per message: a failure counts as the shard not
taking it, so the message is tried once on another enabled shard (as for a disabled shard) and
else dropped; `webhook_failure_limit` failures in a row disable the shard.

Every POST runs in a background task, at most `webhook_concurrency` at once per callback URL.
The control API's faults (`WebhookFaults`) make POSTs fail, wait, repeat or go stale on demand.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from simulator.conduits import ENABLED, Conduit, ConduitRegistry, Shard
from simulator.config import SimulatorConfig
from simulator.subscriptions import (
    FAILURES_EXCEEDED,
    WEBHOOK_FAILED,
    WEBHOOK_PENDING,
    EventSubSubscription,
    SubscriptionRegistry,
)
from simulator.webhook_faults import DeliveryStats, WebhookFaults
from simulator.webhook_wire import (
    VERIFICATION,
    Answer,
    Outgoing,
    challenge_problem,
    encode,
    headers,
)
from simulator.wire import new_message_id, revocation, rfc3339_nano

logger = logging.getLogger("streamcore.simulator")

#: Notifications remembered for /control/duplicate.
RECENT_LIMIT = 100


class WebhookDispatcher:
    """Sends everything webhook subscriptions and webhook shards receive."""

    def __init__(
        self,
        config: SimulatorConfig,
        subscriptions: SubscriptionRegistry,
        conduits: ConduitRegistry,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        on_shard_disabled: Callable[[Conduit, Shard], None],
    ) -> None:
        self.config = config
        self.subscriptions = subscriptions
        self.conduits = conduits
        self.spawn = spawn
        self.on_shard_disabled = on_shard_disabled
        self.faults = WebhookFaults()
        #: Per subscription id, or "conduit_id/shard_id" for a webhook shard.
        self.stats: dict[str, DeliveryStats] = {}
        self.recent: deque[tuple[str, Callable[[], None]]] = deque(maxlen=RECENT_LIMIT)
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._client: httpx.AsyncClient | None = None
        conduits.post_to_webhook = self.send_to_shard

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    # -- HTTP ------------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # Loopback only (see webhook_rules): no proxies, no redirects (Twitch follows
            # none), and no certificate check for a local TLS proxy's self-signed cert.
            self._client = httpx.AsyncClient(
                follow_redirects=False, verify=False, trust_env=False, timeout=None
            )
        return self._client

    async def _post(
        self, callback: str, secret: str, out: Outgoing, retry: int, answer_within_s: float
    ) -> Answer:
        """One POST, held back first by a `delay_s` fault (which counts against the time
        the answer must come within)."""
        timeout = answer_within_s
        fault = self.faults.get(callback)
        delay = fault.delay_s if fault is not None else 0.0
        slot = self._slots.setdefault(callback, asyncio.Semaphore(self.config.webhook_concurrency))
        async with slot:
            if delay >= timeout:
                await asyncio.sleep(timeout)
                return Answer(error=f"no answer within {timeout:g} s (delay fault)")
            await asyncio.sleep(delay)
            request = self._http().post(
                callback, content=out.body, headers=headers(secret, out, retry)
            )
            try:
                response = await asyncio.wait_for(request, timeout - delay)
            except TimeoutError:
                return Answer(error=f"no answer within {timeout:g} s")
            except (httpx.HTTPError, httpx.InvalidURL, OSError) as error:
                return Answer(error=f"{type(error).__name__}: {error}".rstrip(": "))
        return Answer(
            response.status_code, response.content, response.headers.get("content-type", "")
        )

    async def _attempt(
        self, callback: str, secret: str, out: Outgoing, retry: int, stats: DeliveryStats
    ) -> bool:
        """POST a notification or revocation once (or fail it by fault); True on a 2XX."""
        stats.attempts += 1
        failed_as = (
            self.faults.take_failure(callback) if out.message_type == "notification" else None
        )
        if failed_as is not None:
            answer = Answer(failed_as, error=f"failed by fault with {failed_as} (not sent)")
        else:
            answer = await self._post(callback, secret, out, retry, self.config.webhook_timeout_s)
        stats.record(
            answer.status, None if answer.ok else answer.error or f"answered {answer.status}"
        )
        return answer.ok

    def _backoff(self, retry: int) -> float:
        return min(
            self.config.webhook_retry_base_s * 2 ** (retry - 1), self.config.webhook_retry_max_s
        )

    # -- challenges ------------------------------------------------------------------------

    def verify_subscription(self, sub: EventSubSubscription) -> None:
        """Send the challenge of a new webhook subscription (in the background)."""
        assert sub.callback is not None
        self.stats[sub.id] = DeliveryStats(sub.callback, subscription_id=sub.id)
        self.spawn(self._verify_subscription(sub))

    async def _verify_subscription(self, sub: EventSubSubscription) -> None:
        assert sub.callback is not None and sub.secret is not None
        challenge = secrets.token_urlsafe(24)
        body = {"challenge": challenge, "subscription": sub.in_message()}
        out = Outgoing(
            new_message_id(), VERIFICATION, rfc3339_nano(), encode(body), sub.type, sub.version
        )
        answer = await self._post(
            sub.callback, sub.secret, out, 0, self.config.webhook_challenge_timeout_s
        )
        if self.subscriptions.by_id.get(sub.id) is not sub or sub.status != WEBHOOK_PENDING:
            return  # deleted or revoked meanwhile
        problem = challenge_problem(answer, challenge)
        self._challenge_done(self.stats[sub.id], answer, problem)
        sub.status = WEBHOOK_FAILED if problem else ENABLED

    def verify_shard(self, conduit: Conduit, shard: Shard) -> None:
        """Send the challenge of a shard just given a webhook transport."""
        assert shard.callback is not None
        key = f"{conduit.id}/{shard.id}"
        self.stats[key] = DeliveryStats(shard.callback, conduit_id=conduit.id, shard_id=shard.id)
        self.spawn(self._verify_shard(conduit, shard, key))

    async def _verify_shard(self, conduit: Conduit, shard: Shard, key: str) -> None:
        assert shard.callback is not None and shard.secret is not None
        generation, challenge = shard.generation, secrets.token_urlsafe(24)
        body = {
            "challenge": challenge,
            "conduit_shard": {"conduit_id": conduit.id, "shard": shard.id},
        }
        out = Outgoing(new_message_id(), VERIFICATION, rfc3339_nano(), encode(body))
        answer = await self._post(
            shard.callback, shard.secret, out, 0, self.config.webhook_challenge_timeout_s
        )
        if shard.generation != generation or shard.status != WEBHOOK_PENDING:
            return  # assigned again meanwhile
        problem = challenge_problem(answer, challenge)
        self._challenge_done(self.stats[key], answer, problem)
        shard.status = WEBHOOK_FAILED if problem else ENABLED

    @staticmethod
    def _challenge_done(stats: DeliveryStats, answer: Answer, problem: str | None) -> None:
        stats.challenge = "failed" if problem else "passed"
        stats.last_status, stats.last_error = answer.status, problem
        if problem:
            logger.info("webhook challenge to %s failed: %s", stats.callback, problem)
        elif not answer.content_type.startswith("text/plain"):
            logger.warning(
                "webhook challenge to %s answered with Content-Type %r; Twitch expects text/plain",
                stats.callback,
                answer.content_type,
            )

    # -- subscriptions ---------------------------------------------------------------------

    def send(self, sub: EventSubSubscription, message: dict[str, Any]) -> bool:
        """POST a notification (enabled subscriptions only) or a revocation, in the background."""
        assert sub.callback is not None
        out = Outgoing.from_message(message)
        if out.message_type == "notification" and not sub.enabled:
            return False
        stats = self.stats.setdefault(sub.id, DeliveryStats(sub.callback, subscription_id=sub.id))
        copies = self._apply_one_shot_faults(sub.callback, out)

        def dispatch() -> None:
            self.spawn(self._deliver(sub, out, stats))

        for _ in range(copies):
            dispatch()
        if out.message_type == "notification":
            self.recent.append((out.message_id, dispatch))
        return True

    def _apply_one_shot_faults(self, callback: str, out: Outgoing) -> int:
        """A `stale` fault backdates this notification; a `duplicate` one sends it twice."""
        if out.message_type != "notification":
            return 1
        stale_age, duplicate = self.faults.take_one_shots(callback)
        if stale_age is not None:
            out.timestamp = rfc3339_nano(time.time_ns() - int(stale_age * 1_000_000_000))
        return 2 if duplicate else 1

    async def _deliver(
        self, sub: EventSubSubscription, out: Outgoing, stats: DeliveryStats
    ) -> None:
        """POST until a 2XX; retry with back-off; revoke after too many failures in a row."""
        assert sub.callback is not None and sub.secret is not None
        notification = out.message_type == "notification"
        limit = self.config.webhook_failure_limit
        for retry in range(limit):
            if retry:
                stats.retries_pending += 1
                try:
                    await asyncio.sleep(self._backoff(retry))
                finally:
                    stats.retries_pending -= 1
            live = self.subscriptions.by_id.get(sub.id) is sub and sub.enabled
            if notification and not live:
                stats.dropped += 1  # deleted or revoked while waiting
                return
            if await self._attempt(sub.callback, sub.secret, out, retry, stats):
                return
            if not notification:
                return  # a revocation is POSTed once
            if stats.consecutive_failures >= limit:
                self._failures_exceeded(sub)
                stats.dropped += 1
                return
        stats.dropped += 1

    def _failures_exceeded(self, sub: EventSubSubscription) -> None:
        if not sub.enabled:
            return
        sub.status = FAILURES_EXCEEDED
        logger.info("webhook subscription %s: %s", sub.id, FAILURES_EXCEEDED)
        self.send(sub, revocation(sub.in_message()))

    # -- conduit shards --------------------------------------------------------------------

    def send_to_shard(
        self,
        conduit: Conduit,
        shard: Shard,
        rest: list[Shard],
        message_id: str,
        text: str,
        notification: bool,
    ) -> None:
        """`ConduitRegistry.post_to_webhook`: POST once; on failure try `rest`, else drop."""
        assert shard.callback is not None and shard.secret is not None
        out = Outgoing.from_message(json.loads(text))
        key = f"{conduit.id}/{shard.id}"
        stats = self.stats.setdefault(
            key, DeliveryStats(shard.callback, conduit_id=conduit.id, shard_id=shard.id)
        )
        copies = self._apply_one_shot_faults(shard.callback, out)
        # The shard as it is now: a later assignment must not receive this message.
        assigned = (shard.generation, shard.callback, shard.secret)

        def dispatch() -> None:
            self.spawn(self._deliver_to_shard(conduit, shard, assigned, rest, out, text, stats))

        for _ in range(copies):
            dispatch()
        if notification:
            self.recent.append((message_id, dispatch))

    async def _deliver_to_shard(
        self,
        conduit: Conduit,
        shard: Shard,
        assigned: tuple[int, str, str],
        rest: list[Shard],
        out: Outgoing,
        text: str,
        stats: DeliveryStats,
    ) -> None:
        generation, callback, secret = assigned
        if shard.generation == generation and shard.enabled:
            if await self._attempt(callback, secret, out, 0, stats):
                return
            still = shard.generation == generation and shard.enabled
            if still and stats.consecutive_failures >= self.config.webhook_failure_limit:
                self._disable_shard(conduit, shard)
        notification = out.message_type == "notification"
        taken = self.conduits.send_via(conduit, rest, out.message_id, text, notification)
        stats.dropped += int(notification and not taken)

    def _disable_shard(self, conduit: Conduit, shard: Shard) -> None:
        shard.status, shard.disconnected_at = FAILURES_EXCEEDED, rfc3339_nano()
        logger.info("conduit %s webhook shard %s: %s", conduit.id, shard.id, FAILURES_EXCEEDED)
        self.on_shard_disabled(conduit, shard)

    # -- control ---------------------------------------------------------------------------

    def resend(self, message_id: str | None) -> str | None:
        """/control/duplicate: send the last (or the named) notification again, same id."""
        for sent_id, dispatch in reversed(self.recent):
            if message_id in (None, sent_id):
                dispatch()
                return sent_id
        return None

    def describe(self) -> list[dict[str, Any]]:
        """GET /control/webhooks: each subscription's and shard's delivery record."""
        entries = []
        for key, stats in self.stats.items():
            entry = stats.describe() | {"status": None}  # None: deleted
            sub = self.subscriptions.by_id.get(key)
            if sub is not None:
                entry.update(status=sub.status, type=sub.type, version=sub.version)
            elif stats.conduit_id is not None:
                conduit = self.conduits.by_id.get(stats.conduit_id)
                shard = conduit.shard(stats.shard_id) if conduit is not None else None
                entry["status"] = shard.status if shard is not None else None
            entries.append(entry)
        return entries
