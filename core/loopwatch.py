"""Event-loop stalls: detect them while they happen and name what was running.

Everything in a StreamCore process shares one asyncio loop. A worker that calls a blocking
library (`time.sleep`, `requests.get`, a CPU-heavy loop) inside `handle` freezes the HTTP API,
the pings and the fan-out for as long as it blocks, and the symptoms (timeouts everywhere)
point at Redis or the network, not at the worker.

- `ACTIVITIES` is the process's registry of labelled work in progress; the worker runtime
  wraps each `handle` call in `ACTIVITIES.running("worker alerts: handle(channel.follow)")`.
- `LoopWatch.run()` ticks on the loop; a watcher thread notices when the ticks stop (the loop
  is blocked right now), logs once what is running and for how long, and when the loop is
  back the stall is counted (`stats`, read by /system/status and /metrics).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["ACTIVITIES", "Activities", "LoopWatch", "StallStats"]

logger = logging.getLogger("streamcore.loop")

#: How often the loop ticks. Short enough to see a stall early, long enough to cost nothing.
TICK_S = 0.1
#: A loop that missed its tick by this much is stalled: far above scheduling noise on a busy
#: 2-core machine, far below what clients notice (pings, alerts).
STALL_THRESHOLD_S = 0.5


class Activities:
    """Labelled work in progress, readable from the watcher thread."""

    def __init__(self) -> None:
        self._running: dict[int, tuple[str, float]] = {}
        self._ids = itertools.count()

    @contextmanager
    def running(self, label: str) -> Iterator[None]:
        key = next(self._ids)
        self._running[key] = (label, time.monotonic())
        try:
            yield
        finally:
            self._running.pop(key, None)

    def snapshot(self) -> list[tuple[str, float]]:
        """(label, seconds running) of everything in progress, longest first."""
        now = time.monotonic()
        # dict(...) copies atomically under the GIL, so the thread never sees it mid-change.
        items = dict(self._running).values()
        return sorted(((label, now - started) for label, started in items), key=lambda i: -i[1])


#: The process's registry (one event loop per process, so one registry).
ACTIVITIES = Activities()


@dataclass
class StallStats:
    """Liveness as data: what /system/status and /metrics report."""

    stalls: int = 0
    stalled_seconds: float = 0.0
    longest_s: float = 0.0
    last: dict[str, object] = field(default_factory=dict)

    def public(self) -> dict[str, object]:
        return {
            "stalls": self.stalls,
            "stalled_seconds": round(self.stalled_seconds, 3),
            "longest_s": round(self.longest_s, 3),
            "last": self.last or None,
        }


class LoopWatch:
    """Ticks on the loop (`run`) and watches the ticks from a thread (see the docstring)."""

    def __init__(
        self,
        activities: Activities = ACTIVITIES,
        tick_s: float = TICK_S,
        threshold_s: float = STALL_THRESHOLD_S,
    ) -> None:
        self._activities = activities
        self._tick_s = tick_s
        self._threshold_s = threshold_s
        self._last_tick = time.monotonic()
        self._culprits: list[str] = []
        self._stop = threading.Event()
        self.stats = StallStats()

    async def run(self) -> None:
        """Tick until cancelled, with the watcher thread running alongside."""
        watcher = threading.Thread(target=self._watch, name="streamcore-loopwatch", daemon=True)
        self._last_tick = time.monotonic()
        watcher.start()
        try:
            while True:
                before = time.monotonic()
                await asyncio.sleep(self._tick_s)
                now = time.monotonic()
                self._last_tick = now
                late = now - before - self._tick_s
                if late >= self._threshold_s:
                    self._count(late)
        finally:
            self._stop.set()
            await asyncio.to_thread(watcher.join, 2 * self._tick_s)

    def _watch(self) -> None:
        reported = False
        while not self._stop.wait(self._tick_s):
            blocked = time.monotonic() - self._last_tick
            if blocked < self._threshold_s:
                reported = False
                continue
            if reported:
                continue
            reported = True
            running = self._activities.snapshot()
            self._culprits = [f"{label} (running {seconds:.1f} s)" for label, seconds in running]
            logger.warning(
                "Event loop blocked for %.1f s so far: nothing else (API, pings, fan-out) runs "
                "meanwhile. Running: %s. Move blocking calls off the loop (self.run_in_thread "
                "in a worker) or run the workers in their own process (streamcore workers run).",
                blocked,
                "; ".join(self._culprits) or "nothing StreamCore tracks",
            )

    def _count(self, stalled_s: float) -> None:
        culprits, self._culprits = self._culprits, []
        self.stats.stalls += 1
        self.stats.stalled_seconds += stalled_s
        self.stats.longest_s = max(self.stats.longest_s, stalled_s)
        self.stats.last = {
            "seconds": round(stalled_s, 3),
            "running": culprits,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        logger.warning(
            "Event loop was blocked for %.2f s (%s)",
            stalled_s,
            "; ".join(culprits) or "nothing StreamCore tracks was running",
        )
