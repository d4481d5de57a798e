"""When the broadcaster's tail reads the event log next: at once, or after a linger.

Each read of the log costs the same whatever it brings: a command, a reply, and on a busy
machine two wake-ups of the process (the reply, and the timer of the linger), several hundred
microseconds of CPU on a small shared VM. Read at once after every event and that cost is paid
per event; wait a little while events pour in and one read brings a batch, so it is shared.

`TailPacer` is the rule, with no I/O (the broadcaster times and reads):
- quiet: a read that had to wait longer than the linger for its first entry means events come
  slower than that: the next read is issued at once, so a channel's follows, chat and alerts
  reach clients with no added delay;
- busy: once a window of reads (`window_s`) has seen events arrive at `busy_rate` per second
  or more, the tail waits `linger_s` after each read while it stays busy. That adds at most
  `linger_s` to an event's latency, and only under that load; it bounds the reads to about
  1 / `linger_s` per second whatever the rate;
- only while a linger's worth of events stays under `batch_bytes` (at the window's rate of
  bytes), and never after a full read (`read_count` entries: a backlog, read at once) or a read
  of `batch_bytes` or more: big events cost their copying, not the read, and a linger would
  only make each client's burst bigger (a client with a small WS_CLIENT_BUFFER_BYTES would
  look slow when it is not).
The rate is measured over a window, not from one gap, so one pair of close events (two alerts
of one raid) does not slow the next ones.
"""

from __future__ import annotations

__all__ = ["TailPacer"]


class TailPacer:
    __slots__ = (
        "_busy",
        "_bytes",
        "_events",
        "_since",
        "batch_bytes",
        "busy_rate",
        "linger_s",
        "read_count",
        "window_s",
    )

    def __init__(
        self,
        linger_s: float,
        busy_rate: float,
        window_s: float,
        read_count: int,
        batch_bytes: int,
    ) -> None:
        self.linger_s = linger_s
        self.batch_bytes = batch_bytes
        self.busy_rate = busy_rate
        self.window_s = window_s
        self.read_count = read_count
        self._busy = False
        self._since: float | None = None  # start of the current window
        self._events = 0  # events read in it
        self._bytes = 0  # and their frames' bytes

    @property
    def busy(self) -> bool:
        return self._busy

    def after_read(self, now: float, waited: float, count: int, size: int = 0) -> float:
        """Seconds to wait before the next read, after a read at `now` that returned `count`
        entries (`size` bytes of frames) and blocked `waited` seconds."""
        if count == 0 or waited >= self.linger_s:
            # Quiet (or a read that timed out empty): start a fresh window with this read.
            self._busy = False
            self._since, self._events, self._bytes = now, count, size
            return 0.0
        if self._since is None:
            self._since = now
        self._events += count
        self._bytes += size
        elapsed = now - self._since
        if elapsed >= self.window_s:
            self._busy = (
                self._events >= self.busy_rate * elapsed
                and self._bytes * self.linger_s <= self.batch_bytes * elapsed
            )
            self._since, self._events, self._bytes = now, 0, 0
        if self._busy and count < self.read_count and size < self.batch_bytes:
            return self.linger_s
        return 0.0
