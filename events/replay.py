"""Replay for `?since=<id>`: what to resend, whether retention cut it short, and the merge
with live events, with no I/O.

The merge that gives "no gap, no duplicate" (the socket layer drives it):
1. the client joins the live fan-out first, in *held* mode: live events are kept in a bounded
   `LiveHold` instead of being sent;
2. the retention stream is read after `since` and sent (`plan_replay`);
3. the hold is released, skipping every id <= the last replayed id (`LiveHold.release`), and
   the client goes live, all without awaiting between the two steps.
An event appended to the stream before step 2 and published after it is in both the replay and
the hold; the id comparison drops the second copy. Ids are Redis stream ids, ordered as (ms, seq).

Truncation: the retention stream keeps EVENTS_RETENTION_COUNT entries and EVENTS_RETENTION_SECONDS
of age. When the oldest retained entry is newer than `since` (or entries after `since` are older
than the age limit), events may have been lost, and the client's first frame says so:
`{"event": "system.replay_truncated", "data": {"since", "oldest"}, "id": null, "ts"}`. This may
over-report when exactly the `since` entry itself was trimmed; it never under-reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bus.base import StreamEntry, parse_stream_id
from core.channels import ChannelTag
from events.errors import InvalidSinceId
from events.frames import Outgoing
from events.publisher import envelope_text, notice_text

__all__ = [
    "REPLAY_TRUNCATED",
    "STREAM_ID_PART_MAX",
    "LiveHold",
    "ReplayPlan",
    "entry_to_outgoing",
    "parse_since",
    "plan_replay",
    "truncated_notice",
]

REPLAY_TRUNCATED = "system.replay_truncated"
#: ASCII digits only (`\d` would also take other scripts' digits), nothing after the id.
_STREAM_ID = re.compile(r"[0-9]{1,20}(-[0-9]{1,20})?")
#: Both parts of a Redis stream id are unsigned 64-bit numbers; Redis refuses anything larger
#: with an error that would otherwise reach the client's handler uncaught.
STREAM_ID_PART_MAX = 2**64 - 1


def parse_since(text: str) -> tuple[int, int]:
    """`"1700000000000-3"` -> (1700000000000, 3); InvalidSinceId for anything else."""
    if not _STREAM_ID.fullmatch(text):
        raise InvalidSinceId(
            f"Invalid since id {text[:40]!r}: pass the `id` of the last event you received, "
            "e.g. since=1700000000000-0"
        )
    since = parse_stream_id(text)
    if max(since) > STREAM_ID_PART_MAX:
        raise InvalidSinceId(
            f"Invalid since id {text[:40]!r}: each part must be at most {STREAM_ID_PART_MAX}"
        )
    if since == (STREAM_ID_PART_MAX, STREAM_ID_PART_MAX):
        # The largest id: nothing can follow it, and Redis refuses it as an exclusive start.
        raise InvalidSinceId(f"Invalid since id {text[:40]!r}: no event can come after it")
    return since


def entry_to_outgoing(entry: StreamEntry) -> Outgoing:
    """Rebuild the envelope of a retention-stream entry, byte for byte as it was published."""
    fields = entry.fields
    name = fields.get("event", "")
    channel_json = fields.get("channel")
    text = envelope_text(
        name, fields.get("data", "null"), entry.id, fields.get("ts", ""), channel_json
    )
    return Outgoing(name, entry.id, text, _channel_id(channel_json))


#: Channel JSON text -> channel id: a busy tail sees the same few texts over and over, so each
#: is parsed once (bounded: cleared when full).
_CHANNEL_IDS: dict[str, str | None] = {}
_CHANNEL_IDS_MAX = 10_000


def _channel_id(channel_json: str | None) -> str | None:
    if not channel_json:
        return None
    try:
        return _CHANNEL_IDS[channel_json]
    except KeyError:
        pass
    channel = ChannelTag.from_json(channel_json)
    if len(_CHANNEL_IDS) >= _CHANNEL_IDS_MAX:
        _CHANNEL_IDS.clear()
    found = _CHANNEL_IDS[channel_json] = channel.id if channel is not None else None
    return found


@dataclass(slots=True)
class ReplayPlan:
    """What to send before going live."""

    events: list[Outgoing]
    truncated: bool
    oldest: str | None


def plan_replay(
    since: tuple[int, int],
    after_since: list[StreamEntry],
    oldest: StreamEntry | None,
    horizon_ms: int,
) -> ReplayPlan:
    """Decide the replay from the entries after `since` and the oldest retained entry.

    `horizon_ms` is the age limit (now - EVENTS_RETENTION_SECONDS): entries older than it count
    as gone even when the stream still holds them (trimming by age is periodic).
    """
    events = []
    truncated = oldest is not None and parse_stream_id(oldest.id) > since
    for entry in after_since:
        if parse_stream_id(entry.id)[0] < horizon_ms:
            truncated = True
            continue
        events.append(entry_to_outgoing(entry))
    first_kept = events[0].id if events else None
    return ReplayPlan(events, truncated, first_kept if truncated else None)


def truncated_notice(since: str, oldest: str | None) -> Outgoing:
    """The first frame of a replay that cannot go back as far as `since`."""
    data = {"since": since, "oldest": oldest, "reason": "older than retention"}
    return Outgoing(REPLAY_TRUNCATED, None, notice_text(REPLAY_TRUNCATED, data))


@dataclass(slots=True)
class LiveHold:
    """Live events kept while a replay is being sent; bounded by `limit` (overflow = too slow)."""

    limit: int
    events: list[Outgoing] = field(default_factory=list)

    def add(self, event: Outgoing) -> bool:
        """Keep `event`; False when the hold is full and the client must be dropped."""
        if len(self.events) >= self.limit:
            return False
        self.events.append(event)
        return True

    def release(self, last_replayed: tuple[int, int]) -> list[Outgoing]:
        """The held events not already replayed, in arrival order."""
        kept = [e for e in self.events if e.id is None or e.key > last_replayed]
        self.events = []
        return kept
