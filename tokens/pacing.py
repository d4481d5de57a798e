"""Pacing Helix calls to Twitch's token bucket, so a burst never meets a 429.

Twitch's rule (https://dev.twitch.tv/docs/api/guide/#twitch-rate-limits): each token (the app
token, each user token) has a bucket of `Ratelimit-Limit` points, refilled continuously at that
many points a minute; every answer says `Ratelimit-Remaining`; an empty bucket answers 429.

A HelixClient (one per token) keeps a `Pacer`: every answer's headers reset its estimate of the
points left, less the calls still in flight (sent after the answer's count was taken); a call
that would find the estimate empty waits for one point to refill (60 / limit seconds) first.
Calls are let through one at a time only while the bucket is empty, so a full bucket costs
nothing, and adding a thousand channels runs at the refill rate instead of bursting into 429s
that each wait for a full bucket.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

__all__ = ["Pacer"]


class Pacer:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        #: Points left as last estimated; None until an answer said.
        self.remaining: float | None = None
        self.limit: int | None = None
        self._inflight = 0
        self._estimated_at = 0.0
        self._turn = asyncio.Lock()
        #: Seconds spent waiting for points, for status and benchmarks.
        self.waited_s = 0.0

    async def before(self) -> None:
        """Wait, if need be, until a point is left for this call; then take it."""
        if self.remaining is None or self.limit is None:
            self._inflight += 1
            return
        async with self._turn:  # queue only the calls that must wait
            self._refill()
            if self.remaining < 1:
                wait = (1 - self.remaining) * 60.0 / self.limit
                self.waited_s += wait
                await self._sleep(wait)
                self._refill()
            self.remaining -= 1
            self._inflight += 1

    def after(self, headers: Mapping[str, str]) -> None:
        """An answer arrived (or the call failed: empty headers)."""
        self._inflight = max(0, self._inflight - 1)
        try:
            remaining = int(headers["ratelimit-remaining"])
            limit = int(headers["ratelimit-limit"])
        except (KeyError, ValueError):
            return
        if limit <= 0:
            return
        self.limit = limit
        self.remaining = max(0.0, float(remaining - self._inflight))
        self._estimated_at = self._clock()

    def _refill(self) -> None:
        assert self.remaining is not None and self.limit is not None
        now = self._clock()
        refilled = (now - self._estimated_at) * self.limit / 60.0
        self.remaining = min(float(self.limit), self.remaining + refilled)
        self._estimated_at = now
