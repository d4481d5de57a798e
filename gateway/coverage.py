"""When did an EventSub session last cover the channel? Announcing gaps, never silently.

With the WebSocket transport, Twitch drops whatever it sends while no session is subscribed
(a crash, a restart, a coordinator taking over from a dead one): WebSocket sessions cannot
be resumed (https://dev.twitch.tv/docs/eventsub/handling-websocket-events/). Such a gap
cannot be avoided, so it is announced: the subscribed session records in Redis, at most once
a second, the last moment it was known to receive (`mark`). Whichever gateway subscribes
next, in this process or on another replica, reads that record and emits `system.gateway`
with `state: "gap"`, `since` and `until`: the window in which events may have been lost.
A requested stop clears the record: a stopped system has no gap to announce.
"""

from __future__ import annotations

import contextlib
import logging
import time

from bus import Bus, BusError

logger = logging.getLogger("streamcore.gateway")

COVERAGE_KEY = "streamcore:gateway:coverage"
FIELD = "last_received_at"
#: Longest time between two records while subscribed (and so the precision of `since`).
MARK_EVERY_S = 1.0


class Coverage:
    """One session's coverage record; `field` names whose (the WebSocket transport's one
    session, or one conduit shard)."""

    def __init__(self, bus: Bus, field: str = FIELD) -> None:
        self._bus = bus
        self._field = field
        self._last_mark = 0.0
        self._marking = False

    def due(self, now: float) -> bool:
        """True when a record is due (and none is being written)."""
        return not self._marking and now - self._last_mark >= MARK_EVERY_S

    async def mark(self, received_at: float) -> None:
        """Record that the session received something at `received_at` (wall clock)."""
        self._marking = True
        try:
            await self._bus.put_field(COVERAGE_KEY, self._field, repr(received_at))
            self._last_mark = time.time()
        except BusError as error:
            logger.debug("Could not record EventSub coverage (%s)", error)
        finally:
            self._marking = False

    async def gap_since(self) -> float | None:
        """When the previous session last received, or None when none was recorded."""
        try:
            raw = (await self._bus.get_fields(COVERAGE_KEY)).get(self._field)
        except BusError:
            return None
        try:
            return None if raw is None else float(raw)
        except ValueError:
            return None

    async def clear(self) -> None:
        with contextlib.suppress(BusError):
            await self._bus.delete_field(COVERAGE_KEY, self._field)
