"""The exactly-once hand-off: each notification lands once in `eventsub:{type}`, or waits.

Order of operations, and why no crash or Redis restart loses or doubles an event: the dedupe
key (DEDUPE_KEY, TTL DEDUPE_TTL_S >= Twitch's 10-minute replay window) and the stream entry are
written by ONE atomic bus call, `Bus.append_unique` (a Lua script on Redis; a batch of them
goes in one pipeline, each still atomic and applied in order). So:
- the key never exists without the entry: a failed call leaves neither, and we retry;
- the entry never exists without the key: a redelivery (same message_id on the other socket of
  a reconnect, or after a restart of StreamCore) finds the key and is skipped;
- a reply lost after Redis applied the script is retried and answers "duplicate", which is
  right, because the entry is there.
While the bus is unavailable the gateway holds the frame and retries with capped, jittered
back-off; it reads no further frame meanwhile (the socket buffers, Twitch's keepalive timer is
ours to lose: a long Redis outage ends in a reconnect, never in a dropped message we acked).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from bus import Bus, BusUnavailable
from core.backoff import Backoff
from core.constants import DEDUPE_KEY, DEDUPE_TTL_S, EVENTSUB_STREAM
from gateway.protocol import Notification

logger = logging.getLogger("streamcore.gateway")

#: Back-off while the bus is down: quick first retries (a Redis restart takes about a second),
#: capped so the gateway notices Redis' return within a few seconds.
BUS_RETRY_BASE_S = 0.05
BUS_RETRY_CAP_S = 2.0


def stream_fields(notification: Notification) -> dict[str, str]:
    """The entry the workers' runtime reads (see core.constants.EVENTSUB_STREAM)."""
    return {
        "message_id": notification.message_id,
        "message_timestamp": notification.timestamp,
        "subscription_type": notification.subscription_type,
        "subscription_version": notification.subscription_version,
        "payload": json.dumps(notification.payload, separators=(",", ":"), ensure_ascii=False),
    }


class Handoff:
    """Appends notifications once each; `deliver` returns only when that is settled."""

    def __init__(
        self,
        bus: Bus,
        maxlen: int,
        dedupe_ttl_s: int = DEDUPE_TTL_S,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._bus = bus
        self._maxlen = maxlen
        self._ttl = dedupe_ttl_s
        self._sleep = sleep
        #: Times an append waited for the bus (for status and metrics).
        self.bus_retries = 0

    async def deliver_many(self, notifications: Sequence[Notification]) -> list[str | None]:
        """Append each once, in order, in one round trip; per notification the entry id, or
        None for a duplicate. Retries the whole batch while the bus is down (until cancelled:
        the frames are never dropped); items applied before a failure answer None on the
        retry, which is right because their entries exist."""
        items = self._items(notifications)
        backoff: Backoff | None = None
        while True:
            try:
                results = await self._bus.append_unique_many(items)
            except BusUnavailable as error:
                if backoff is None:
                    backoff = Backoff(BUS_RETRY_BASE_S, BUS_RETRY_CAP_S)
                    logger.warning(
                        "Cannot append %d EventSub message(s) (%s); holding them and retrying",
                        len(items),
                        error,
                    )
                self.bus_retries += 1
                await self._sleep(backoff.next_delay())
                continue
            if backoff is not None:
                logger.info("The bus is back; %d held message(s) handed off", len(items))
            return results

    async def try_deliver(self, notification: Notification) -> str | None:
        """Append once, now: the entry id, or None for a duplicate. Raises BusUnavailable
        instead of waiting (the webhook callback answers 503 then, and Twitch retries)."""
        return (await self._bus.append_unique_many(self._items([notification])))[0]

    def _items(
        self, notifications: Sequence[Notification]
    ) -> list[tuple[str, dict[str, str], int, str, int]]:
        return [
            (
                EVENTSUB_STREAM.format(type=n.subscription_type),
                stream_fields(n),
                self._maxlen,
                DEDUPE_KEY.format(message_id=n.message_id),
                self._ttl,
            )
            for n in notifications
        ]
