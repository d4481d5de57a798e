"""Leases in Redis: who may act, for how long, with a fencing token.

A lease is taken and renewed atomically on the bus (`Bus.hold_lease`) and expires after
`ttl_s` unless renewed. The holder's own view is stricter than Redis's: it counts the lease
from the moment it *sent* the renewal and trusts only `SAFE_FRACTION` of the TTL, so it stops
acting before Redis can expire the lease and hand it to another replica, even when its
renewal is slow, Redis is paused (SIGSTOP) or the clocks run at slightly different rates.

`LeaseKeeper` runs the loop: try to take the lease every `ttl_s / 5` while another replica
has it (so a dead holder's lease is taken within about `ttl_s` of its last renewal), renew it
every `ttl_s / 4` while held, and call `on_lost` as soon as the local view expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from bus import Bus, BusError

logger = logging.getLogger("streamcore.cluster")

#: Part of the TTL during which the holder trusts its lease: the margin covers clock-rate
#: differences between this host and Redis and the time a reply spends in flight.
SAFE_FRACTION = 0.75


class Lease:
    """One lease held (or wanted) by this process; `held` says whether it may act now."""

    def __init__(
        self,
        bus: Bus,
        key: str,
        holder: str,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        self.holder = holder
        self.ttl_s = ttl_s
        self._bus = bus
        self._clock = clock
        #: The fencing token of the current holding, None when not held.
        self.token: int | None = None
        self._valid_until = 0.0

    @property
    def held(self) -> bool:
        return self.token is not None and self._clock() < self._valid_until

    def remaining_s(self) -> float:
        """How much longer this process may act on the lease (0 when not held)."""
        return max(0.0, self._valid_until - self._clock()) if self.token is not None else 0.0

    async def try_hold(self) -> bool:
        """Take or renew the lease; False when another holder has it. Raises BusError."""
        sent_at = self._clock()
        token = await self._bus.hold_lease(self.key, self.holder, int(self.ttl_s * 1000))
        if token is None:
            self.token, self._valid_until = None, 0.0
            return False
        self.token = token
        self._valid_until = sent_at + self.ttl_s * SAFE_FRACTION
        return True

    def forget(self) -> None:
        """Stop trusting the lease locally (it may still be held in Redis until it expires)."""
        self.token, self._valid_until = None, 0.0

    async def release(self) -> None:
        """Give the lease up at once so another replica need not wait for it to expire."""
        self.forget()
        with contextlib.suppress(BusError):
            await self._bus.release_lease(self.key, self.holder)


class LeaseKeeper:
    """Keeps trying to hold `lease`; `on_gained(token)` and `on_lost()` mark the changes."""

    def __init__(
        self,
        lease: Lease,
        on_gained: Callable[[int], Awaitable[None]],
        on_lost: Callable[[], Awaitable[None]],
        *,
        what: str,
    ) -> None:
        self.lease = lease
        self._on_gained = on_gained
        self._on_lost = on_lost
        self._what = what
        self.acting = False
        #: Times this process gained the lease, for status and tests.
        self.gains = 0

    async def run(self) -> None:
        """Until cancelled; gives the lease up on the way out."""
        try:
            while True:
                await self._step()
                stop_if_cancelled()
                await asyncio.sleep(self._pause())
        finally:
            if self.acting:
                self.acting = False
                await self._on_lost()
            await self.lease.release()

    def _pause(self) -> float:
        ttl = self.lease.ttl_s
        if not self.acting:
            return ttl / 5
        # Renew early, and never sleep past the moment the local view expires.
        return max(0.05, min(ttl / 4, self.lease.remaining_s() / 2))

    async def _step(self) -> None:
        # A renewal slower than the remaining validity is as good as a failed one. (Not
        # `asyncio.wait_for`: on Python 3.11 it swallows a cancellation that arrives just as
        # the call completes, and the keeper would never stop.)
        limit = max(0.05, self.lease.remaining_s()) if self.acting else self.lease.ttl_s
        try:
            async with asyncio.timeout(limit):
                held = await self.lease.try_hold()
            # A grant whose reply came back after the local view expired (a slow reply, a
            # stalled event loop) may already have passed to another replica in Redis.
            held = held and self.lease.held
        except (BusError, TimeoutError) as error:
            held = self.lease.held  # unknown: keep acting only while the local view lasts
            if not held and self.acting:
                reason = str(error) or "no answer in time"
                logger.error("Lost the %s lease: cannot renew it (%s)", self._what, reason)
        if held and not self.acting:
            self.acting = True
            self.gains += 1
            assert self.lease.token is not None
            logger.info("This replica is now the %s (token %d)", self._what, self.lease.token)
            await self._on_gained(self.lease.token)
        elif not held and self.acting:
            self.acting = False
            self.lease.forget()
            logger.warning("This replica is no longer the %s", self._what)
            await self._on_lost()


def stop_if_cancelled() -> None:
    """Raise CancelledError when this task was cancelled but went on.

    On Python 3.11 `asyncio.wait_for` returns the result instead of raising when the
    cancellation arrives just as the awaited call completes, and redis-py sends every command
    through it: a loop that talks to Redis would then ignore the one cancel it gets at
    shutdown. The request still shows in `Task.cancelling()`.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
