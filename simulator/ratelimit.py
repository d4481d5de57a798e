"""Helix's rate limit: a token bucket per client id for app tokens and per (client, user) pair
for user tokens (https://dev.twitch.tv/docs/api/guide/#twitch-rate-limits).

Each call takes one point; the bucket refills continuously to `per_minute` points a minute.
`Ratelimit-Reset` is the Unix epoch second at which the bucket is full again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

#: Bucket keys besides user ids: the app token's, and the one a 401 answer's headers come from.
APP = "app"
UNAUTHENTICATED = "unauthenticated"


class TokenBucket:
    """One bucket: `capacity` points, refilled at capacity/60 points a second."""

    def __init__(self, capacity: int, clock: Callable[[], float] = time.time) -> None:
        self.capacity = capacity
        self.clock = clock
        self.points = float(capacity)
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.points = min(self.capacity, self.points + (now - self.updated) * self.capacity / 60)
        self.updated = now

    def take(self, cost: int = 1) -> bool:
        """Take `cost` points; False (and nothing taken) if the bucket holds fewer."""
        self._refill()
        if self.points < cost:
            return False
        self.points -= cost
        return True

    def headers(self) -> dict[str, str]:
        """The three headers every Helix response carries."""
        self._refill()
        missing = self.capacity - self.points
        reset = self.updated + missing * 60 / self.capacity
        return {
            "Ratelimit-Limit": str(self.capacity),
            "Ratelimit-Remaining": str(int(self.points)),
            "Ratelimit-Reset": str(math.ceil(reset)),
        }


class RateLimiter:
    """The buckets, created on first use, keyed by (client id, user id or "app")."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.time) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.buckets: dict[tuple[str, str], TokenBucket] = {}

    def bucket(self, client_id: str, user_id: str | None) -> TokenBucket:
        key = (client_id, user_id or APP)
        if key not in self.buckets:
            self.buckets[key] = TokenBucket(self.per_minute, self.clock)
        return self.buckets[key]

    def set_per_minute(self, per_minute: int) -> None:
        """A new capacity for every bucket, present and future (control API); each existing
        bucket starts full at it, so a benchmark that sets a limit starts from a clean slate."""
        self.per_minute = per_minute
        for bucket in self.buckets.values():
            bucket.capacity = per_minute
        self.refill()

    def refill(self) -> None:
        """Every bucket full again."""
        now = self.clock()
        for bucket in self.buckets.values():
            bucket.points, bucket.updated = float(bucket.capacity), now

    def describe(self) -> list[dict[str, object]]:
        """The control API's view: one entry per app or user bucket, with what its headers
        would say. The bucket a refused (401) call is answered from is never spent: left out."""
        entries: list[dict[str, object]] = []
        for (client_id, user), bucket in self.buckets.items():
            if user == UNAUTHENTICATED:
                continue
            headers = bucket.headers()
            entries.append(
                {
                    "client_id": client_id,
                    "user_id": None if user == APP else user,
                    "kind": "app" if user == APP else "user",
                    "limit": int(headers["Ratelimit-Limit"]),
                    "remaining": int(headers["Ratelimit-Remaining"]),
                    "reset": int(headers["Ratelimit-Reset"]),
                }
            )
        return entries
