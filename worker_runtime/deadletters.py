"""Dead letters: entries a worker gave up on, kept in `deadletter:<worker>` and replayable.

A replay copies each dead letter not replayed yet into `replay:<worker>`, a stream only that
worker's consumer group reads (so no other worker sees the event twice), and moves the
worker's replay cursor (in the store) past it. `count_dead_letters` counts the dead letters
after the cursor: the ones still waiting for a fix and a replay.
"""

from __future__ import annotations

from bus import Bus, StreamEntry
from core.constants import (
    DEADLETTER_MAXLEN,
    DEADLETTER_STREAM,
    WORKER_DEADLETTER_CURSORS,
    WORKER_REPLAY_STREAM,
)
from db_infrastructure import Store
from events.publisher import now_iso

#: Fields a dead letter adds to the original entry's fields; a replay leaves them out.
DEADLETTER_FIELDS = ("source_stream", "source_id", "error", "attempts", "dead_lettered_at")
#: Longest error text kept per dead letter (tracebacks live in the logs).
MAX_ERROR_CHARS = 2_000


async def add_dead_letter(
    bus: Bus, worker_name: str, entry: StreamEntry, error: str, attempts: int
) -> str:
    """Keep `entry` with why it failed; returns the dead letter's id."""
    fields = {key: value for key, value in entry.fields.items() if key not in DEADLETTER_FIELDS}
    fields.update(
        # A replayed entry that fails again keeps naming the original it came from.
        source_stream=entry.fields.get("source_stream", entry.stream),
        source_id=entry.fields.get("source_id", entry.id),
        error=error[:MAX_ERROR_CHARS],
        attempts=str(attempts),
        dead_lettered_at=now_iso(),
    )
    return await bus.append(
        DEADLETTER_STREAM.format(worker=worker_name), fields, maxlen=DEADLETTER_MAXLEN
    )


async def waiting_dead_letters(bus: Bus, store: Store, worker_name: str) -> list[StreamEntry]:
    """Dead letters of the worker not replayed yet, oldest first."""
    cursor = await store.get(WORKER_DEADLETTER_CURSORS, worker_name)
    return await bus.read_range(
        DEADLETTER_STREAM.format(worker=worker_name), f"({cursor}" if cursor else "-", "+"
    )


async def count_dead_letters(bus: Bus, store: Store, worker_name: str) -> int:
    return len(await waiting_dead_letters(bus, store, worker_name))


async def replay_dead_letters(bus: Bus, store: Store, worker_name: str) -> int:
    """Send every waiting dead letter back to the worker; returns how many were sent.

    The cursor moves after each copy, so an interrupted replay resumes where it stopped (at
    worst the one entry in flight is sent twice).
    """
    replayed = 0
    for dead_letter in await waiting_dead_letters(bus, store, worker_name):
        fields = {k: v for k, v in dead_letter.fields.items() if k not in DEADLETTER_FIELDS}
        # The original's stream and id travel along: the replay's emits get the keys (and,
        # while those are kept, the ids) of the original's emits.
        fields.update(
            source_stream=dead_letter.fields["source_stream"],
            source_id=dead_letter.fields["source_id"],
            replayed_from=dead_letter.id,
        )
        await bus.append(
            WORKER_REPLAY_STREAM.format(worker=worker_name), fields, maxlen=DEADLETTER_MAXLEN
        )
        await store.put(WORKER_DEADLETTER_CURSORS, worker_name, dead_letter.id)
        replayed += 1
    return replayed
