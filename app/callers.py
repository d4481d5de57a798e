"""Who may call an action, for which channel, and how often (HTTP and /ws/events alike).

- The operator (admin Bearer token, the dashboard's session, or a local connection when no
  admin token is set) may call every action for every channel. A browser's request also needs
  its Origin to be this host, so another site cannot call actions with the dashboard cookie.
- A client key may call the actions its `actions` patterns match (none by default; the same
  syntax as event filters: `chat.send`, `chat.*`, `*`), for the channels it is bound to; a key
  bound to one channel calls for that one without naming it.
- Per key, calls are rate-limited (ACTIONS_CALL_RATE a second, bursts of ACTIONS_CALL_BURST):
  `rate_limited`. The bucket is on the bus (Redis with replicas), so the limit holds across
  every replica a key's clients reach.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bus import Bus, BusError
from core.channels import ChannelTag
from events.filters import EventFilter
from events.keys import KeyRecord
from tokens.channels import ChannelRegistry
from worker_runtime.actions import ActionFailed

__all__ = ["CALL_BURST", "CALL_RATE", "CallLimits", "Caller"]

logger = logging.getLogger("streamcore.actions")

CALL_RATE = 5.0
CALL_BURST = 10


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


#: The bus key of a client key's call bucket (a hash; it expires once full again).
CALL_BUCKET = "actions:calls:{key_id}"


@dataclass
class CallLimits:
    """Calls per second per client key, counted across every replica (a token bucket on the
    bus); the operator is not limited."""

    rate: float = CALL_RATE
    burst: int = CALL_BURST
    _outage_logged: bool = field(default=False, repr=False)

    async def take(self, caller: Caller, bus: Bus) -> None:
        """Take one call from the key's bucket; ActionFailed `rate_limited` when empty."""
        if caller.key is None:
            return
        try:
            wait = await bus.take_token(
                CALL_BUCKET.format(key_id=caller.key.id), self.rate, self.burst
            )
        except BusError as error:
            # The limit protects Twitch's own limits and ours; an action that needs no bus
            # may still run while it is down, so the call goes on, said once per outage.
            if not self._outage_logged:
                logger.warning("Action calls are not rate-limited while the bus is down: %s", error)
                self._outage_logged = True
            return
        self._outage_logged = False
        if wait > 0:
            raise ActionFailed(
                "rate_limited",
                f"more than {self.rate:g} calls a second with this key; slow down",
                retry_after_s=round(wait, 2),
            )
