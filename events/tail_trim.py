"""Whether the event log was trimmed past the broadcaster's tail: events lost, said aloud.

The live fan-out reads the same capped log that `?since=` replays read (EVENTS_RETENTION_COUNT
entries, `XADD MAXLEN ~`). A tail that falls further behind than that (a process stalled for
seconds, a CPU-starved machine) would have its next `XREAD` silently skip what was trimmed:
stream ids have gaps, so nothing in the reply shows it. Counting does: the log reports how
many entries were ever appended and how many it holds (`StreamCounts`), so `added - length`
entries were trimmed; a tail that knows the ordinal of its position (how many entries were
appended up to it) sees at once whether the trim reached past it, and by how many.

`TrimWatch` keeps that ordinal, with no I/O (the broadcaster reads the counts and the log):
- it is exact from a baseline: the tail's start at the end of the log, or any moment the log's
  newest id is the tail's position (caught up);
- it asks for a check (one XINFO STREAM) before a read only when a trim could have overtaken
  the tail: after a full read (a backlog) or when the tail was away longer than `stall_s`
  (delivering, or its process stalled) since its last read or since its newest event was
  appended. A tail that keeps up costs nothing;
- after an outage of the log, or a log that was recreated (a Redis restart without
  persistence), the ordinal is unknown until the next baseline.
A trim that lands between a check and its read goes unseen at that read; the ordinal then lags
by what was skipped and the next check reports it: late, but never silent and never counted
twice.
"""

from __future__ import annotations

from bus.base import StreamCounts
from events.frames import Outgoing
from events.publisher import notice_text

__all__ = ["EVENTS_LOST", "TrimWatch", "lost_notice"]

#: The frame every client of the replica gets when events were trimmed before it delivered
#: them: what it shows may be missing events; fetch the state again.
EVENTS_LOST = "system.events_lost"


def lost_notice(after: str, lost: int) -> Outgoing:
    """`{"event": "system.events_lost", "data": {"after", "lost", "reason"}, "id": null}`."""
    data = {"after": after, "lost": lost, "reason": "trimmed from the event log before delivery"}
    return Outgoing(EVENTS_LOST, None, notice_text(EVENTS_LOST, data))


class TrimWatch:
    __slots__ = (
        "_away_since",
        "_caught_up",
        "_suspect",
        "block_s",
        "full_read",
        "ordinal",
        "stall_s",
    )

    def __init__(self, full_read: int, stall_s: float, block_s: float) -> None:
        #: A read of this many entries is a backlog (the log may be trimming behind it).
        self.full_read = full_read
        self.stall_s = stall_s
        #: How long an empty blocking read waits: one that came back much later was stalled.
        self.block_s = block_s
        #: How many entries were appended up to the tail's position; None when unknown.
        self.ordinal: int | None = None
        self._suspect = False
        self._caught_up = False
        self._away_since = 0.0

    def baseline(self, counts: StreamCounts, position: str) -> None:
        """The tail is at `position`: if the ordinal is unknown and `position` is the log's
        newest id, it is known again (exactly). A known one is kept: it may lag by a skip
        that `checked` has yet to report."""
        if self.ordinal is None and counts.last_id == position:
            self.ordinal = counts.added

    def lost_track(self) -> None:
        """The log was unreadable: what happened to it meanwhile is unknown."""
        self.ordinal = None

    def read(self, entries: int, now: float, waited_s: float, newest_age_s: float) -> None:
        """A read returned `entries` after `waited_s`, the newest of them appended
        `newest_age_s` ago (by Redis's clock)."""
        if self.ordinal is not None:
            self.ordinal += entries
        self._away_since = now
        self._caught_up = not entries
        if entries >= self.full_read:
            self._suspect = True
        elif entries and newest_age_s > self.stall_s:
            self._suspect = True  # its reply waited for this process
        elif not entries and waited_s > self.block_s + self.stall_s:
            self._suspect = True  # likewise, and events may have come since

    def check_due(self, now: float) -> bool:
        """Whether to read the log's counts before the next read: to check, or, with the
        ordinal unknown, to learn it again once the tail has caught up (an empty read)."""
        if self.ordinal is None:
            return self._caught_up
        return self._suspect or now - self._away_since > self.stall_s

    def checked(self, counts: StreamCounts) -> int:
        """The counts read before a read: how many unread entries the trim took (0: none)."""
        self._suspect = False
        if self.ordinal is None:
            return 0
        if counts.added < self.ordinal:
            self.ordinal = None  # the log was recreated: unknown until the next baseline
            return 0
        lost = max(0, counts.trimmed - self.ordinal)
        self.ordinal += lost  # the next read starts after them
        return lost
