"""Who may call an action, for which channel, and how often (HTTP and /ws/events alike).

- The operator (admin Bearer token, the dashboard's session, or a local connection when no
  admin token is set) may call every action for every channel. A browser's request also needs
  its Origin to be this host, so another site cannot call actions with the dashboard cookie.
- A client key may call the actions its `actions` patterns match (none by default; the same
  syntax as event filters: `chat.send`, `chat.*`, `*`), for the channels it is bound to; a key
  bound to one channel calls for that one without naming it.
- Per key, calls are rate-limited (CALL_RATE a second, bursts of CALL_BURST): `rate_limited`.
  The buckets live in this process: each replica limits the calls it serves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.channels import ChannelTag
from events.filters import EventFilter
from events.keys import KeyRecord
from tokens.channels import ChannelRegistry
from worker_runtime.actions import ActionFailed

__all__ = ["CALL_BURST", "CALL_RATE", "CallLimits", "Caller"]

CALL_RATE = 5.0
CALL_BURST = 10
#: Keys whose buckets are kept at most (the oldest are forgotten: they refill anyway).
MAX_BUCKETS = 10_000


@dataclass(frozen=True)
class Caller:
    """`label` for logs (a key's name, never the key); `key` None for the operator."""

    label: str
    key: KeyRecord | None = None

    def may_call(self, action: str) -> bool:
        if self.key is None:
            return True
        patterns = self.key.actions
        return bool(patterns) and EventFilter.parse(patterns).matches(action)

    async def channel_for(self, registry: ChannelRegistry, named: str | None) -> ChannelTag | None:
        """The channel the call is for (None: the default channel, operator only)."""
        bound = self.key.channel_ids if self.key is not None else None
        if named:
            record = await registry.resolve(named)
            if record is None:
                raise ActionFailed("invalid_args", f"unknown channel {named[:40]!r}")
            if bound is not None and record.id not in bound:
                raise ActionFailed("forbidden", "this key may not act for that channel")
            return record.tag()
        if bound is None:
            return None
        if len(bound) == 1:
            record = await registry.resolve(next(iter(bound)))
            return record.tag() if record is not None else None
        raise ActionFailed("forbidden", "this key is bound to several channels: name one")


@dataclass
class CallLimits:
    rate: float = CALL_RATE
    burst: int = CALL_BURST
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, caller: Caller, now: float | None = None) -> None:
        """Take one call from the key's bucket; ActionFailed `rate_limited` when empty."""
        if caller.key is None:
            return
        now = time.monotonic() if now is None else now
        tokens, updated = self._buckets.pop(caller.key.id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - updated) * self.rate)
        if tokens < 1:
            self._buckets[caller.key.id] = (tokens, now)
            raise ActionFailed(
                "rate_limited",
                f"more than {self.rate:g} calls a second with this key; slow down",
                retry_after_s=round((1 - tokens) / self.rate, 2),
            )
        self._buckets[caller.key.id] = (tokens - 1, now)
        if len(self._buckets) > MAX_BUCKETS:
            self._buckets.pop(next(iter(self._buckets)))
