"""The bus interface: pub/sub, durable streams with consumer groups, and set-if-absent.

Two backends implement it, one per file: `bus.memory` (in-process, the embedded default) and
`bus.redis` (Redis, for production and for several processes). The semantics follow Redis:

- `publish` / `psubscribe`: fire-and-forget pub/sub with glob patterns (`events:*`).
- `append` / `read_group` / `ack` / `claim_stale` / `read_range`: Redis Streams. Each consumer
  group sees every entry once; an entry stays pending until acked and can be claimed by another
  consumer once it has been idle long enough (the first consumer crashed).
- `read_after` / `stream_counts`: a plain tail of a stream (XREAD) from a position the reader
  keeps itself, for readers that must see every entry but need no acks (the fan-out); the
  counts give the newest id to start from and tell whether a trim overtook the reader.
  `tail_reader()` gives one such reader its own `read_after` (Redis: its own connection).
- `set_if_absent`: `SET key value NX EX ttl`, for de-duplication.
- `take_token`: a token bucket shared by every process (per-key rate limits across replicas).
- `append_unique`: set-if-absent and append as one step (exactly-once hand-off of a message).
- `append_once`: the same, but a repeat answers the id the first append got (stable ids for
  retried emits).
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Message:
    """A pub/sub message as a subscriber receives it."""

    channel: str
    data: str


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One entry of a durable stream. `id` is Redis-shaped: `<ms>-<seq>`."""

    stream: str
    id: str
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class StreamCounts:
    """A stream's newest id, how many entries were ever appended and how many it holds now:
    `added - length` entries were trimmed, so a reader that counts what it read can tell
    whether trimming took entries it never read (ids alone cannot: they have gaps)."""

    last_id: str
    added: int
    length: int

    @property
    def trimmed(self) -> int:
        return self.added - self.length


@dataclass(frozen=True, slots=True)
class ConsumerInfo:
    """One consumer of a group (XINFO CONSUMERS): entries it holds, time since it was seen."""

    name: str
    pending: int
    idle_ms: int


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """How far a consumer group is behind its stream (for status and metrics)."""

    pending: int
    lag: int


class Subscription:
    """A pattern subscription: iterate it to receive messages.

    Its queue is bounded. When the subscriber falls behind and the queue is full, the oldest
    queued message is dropped and `dropped` counts it: pub/sub is fire-and-forget (as in Redis,
    which disconnects slow subscribers), and durable delivery goes through streams instead.
    Backends feed it with `offer`, which never blocks the publisher.
    """

    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)
        self.dropped = 0

    def offer(self, message: Message) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(message)

    async def get(self) -> Message:
        """Wait for the next message."""
        return await self._queue.get()

    async def __aiter__(self) -> AsyncIterator[Message]:
        while True:
            yield await self._queue.get()


class Bus(ABC):
    """What StreamCore needs from a message bus. See the module docstring for semantics."""

    #: "memory" or "redis", for logs and status.
    name: str

    @abstractmethod
    async def connect(self) -> None:
        """Open connections; raise core.errors.BackendUnavailable when unreachable."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def publish(self, channel: str, data: str) -> int:
        """Publish to a channel; returns the number of receivers (as Redis reports it)."""

    @abstractmethod
    def psubscribe(
        self, *patterns: str, maxsize: int = 10_000
    ) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe to glob patterns for the life of the `async with` block."""

    @abstractmethod
    async def append(self, stream: str, fields: dict[str, str], maxlen: int) -> str:
        """Append to a durable stream (XADD), keeping about `maxlen` entries; return the id."""

    @abstractmethod
    async def ensure_group(self, stream: str, group: str, start_id: str = "0") -> None:
        """Create the consumer group (and the stream) unless it exists."""

    @abstractmethod
    async def read_group(
        self,
        group: str,
        consumer: str,
        streams: Sequence[str],
        count: int = 100,
        block_ms: int | None = None,
    ) -> list[StreamEntry]:
        """Deliver entries never delivered to this group (XREADGROUP `>`), oldest first.

        With `block_ms`, wait up to that long for something to arrive; return [] on timeout.
        """

    @abstractmethod
    async def read_pending(
        self, group: str, consumer: str, stream: str, count: int = 100
    ) -> list[StreamEntry]:
        """Entries already delivered to this consumer but not acked (XREADGROUP `0`)."""

    @abstractmethod
    async def ack(self, stream: str, group: str, *ids: str) -> int: ...

    @abstractmethod
    async def claim_stale(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int = 100
    ) -> list[StreamEntry]:
        """Take over entries pending longer than `min_idle_ms` in another consumer (XAUTOCLAIM)."""

    @abstractmethod
    async def read_range(
        self, stream: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[StreamEntry]:
        """Entries with start <= id <= end (XRANGE); `(id` excludes the bound."""

    @abstractmethod
    async def consumers(self, stream: str, group: str) -> list[ConsumerInfo]:
        """The group's consumers; [] when the group does not exist."""

    @abstractmethod
    async def delete_consumer(self, stream: str, group: str, consumer: str) -> None:
        """Forget a consumer (XGROUP DELCONSUMER); its pending entries would be dropped, so
        callers delete only consumers with none."""

    @abstractmethod
    async def read_after(
        self, stream: str, after_id: str, count: int = 100, block_ms: int | None = None
    ) -> list[StreamEntry]:
        """Entries with an id greater than `after_id`, oldest first (XREAD). With `block_ms`,
        wait up to that long for one to arrive; return [] on timeout."""

    @abstractmethod
    async def stream_counts(self, stream: str) -> StreamCounts:
        """`StreamCounts` of the stream, read at one instant (all zero when it is missing)."""

    @abstractmethod
    async def group_info(self, stream: str, group: str) -> GroupInfo | None:
        """Pending and lag of a group, or None when the group does not exist."""

    @abstractmethod
    async def set_if_absent(self, key: str, value: str, ttl_s: int) -> bool:
        """Set `key` only if it does not exist, expiring after `ttl_s`; True when it was set."""

    @abstractmethod
    async def delete_key(self, key: str) -> None:
        """Remove a key set by `set_if_absent` (used to release locks)."""

    # -- cluster coordination ------------------------------------------------------------------

    @abstractmethod
    async def hold_lease(self, key: str, holder: str, ttl_ms: int) -> int | None:
        """Take `key` for `holder`, or renew it when `holder` already has it, for `ttl_ms`.

        Returns the lease's fencing token: a number that only grows from one holder to the
        next (a renewal keeps it), so a write tagged with an older token is recognisably
        stale. Returns None while another holder has the lease.
        """

    @abstractmethod
    async def release_lease(self, key: str, holder: str) -> None:
        """Give `key` up at once, if `holder` still has it (a clean shutdown's hand-over)."""

    @abstractmethod
    async def lease_holder(self, key: str) -> tuple[str, int] | None:
        """(holder, fencing token) of a held lease, or None when nobody holds it."""

    @abstractmethod
    async def put_field(self, key: str, field: str, value: str) -> None:
        """Set one field of the hash `key` (the replica registry: one field per replica)."""

    @abstractmethod
    async def get_fields(self, key: str) -> dict[str, str]:
        """Every field of the hash `key` ({} when missing)."""

    @abstractmethod
    async def delete_field(self, key: str, field: str) -> None:
        """Remove one field of the hash `key`."""

    @abstractmethod
    async def append_unique(
        self, stream: str, fields: dict[str, str], maxlen: int, dedupe_key: str, ttl_s: int
    ) -> str | None:
        """Append unless `dedupe_key` exists: set the key (expiring after `ttl_s`) and XADD
        as one atomic step. Returns the new entry id, or None when the key already existed (a
        duplicate: nothing was appended).

        Atomic means a failure leaves neither the key nor the entry, so the caller can retry
        without losing the message (key set, entry missing) or doubling it (entry appended,
        key missing); a retry after a lost reply answers None because both happened.
        """

    @abstractmethod
    async def append_once(
        self, stream: str, fields: dict[str, str], maxlen: int, key: str, ttl_s: int
    ) -> tuple[str, bool]:
        """Append unless `key` exists, as one atomic step: (the new id, True); when `key`
        exists (a repeat within `ttl_s`), nothing is appended: (the first append's id, False).
        """

    @abstractmethod
    async def take_token(self, key: str, rate: float, burst: int) -> float:
        """Take one token from the bucket `key` (refilled at `rate` per second, holding up to
        `burst`): 0.0 when taken, else the seconds until one is due (nothing is taken)."""

    def tail_reader(self) -> TailReader:
        """A blocking `read_after` for one sequential reader (the broadcaster's tail); a
        backend may give it a connection of its own. Close it when done."""
        return _SharedTail(self)

    async def append_unique_many(
        self, items: Sequence[tuple[str, dict[str, str], int, str, int]]
    ) -> list[str | None]:
        """`append_unique` for each (stream, fields, maxlen, dedupe_key, ttl_s), in order.

        Each item is atomic on its own; when the call fails part-way, the items that were
        applied answer None (duplicate) on a retry, so retrying the whole batch is safe. The
        Redis backend sends the batch in one round trip.
        """
        return [await self.append_unique(*item) for item in items]


class TailReader(Protocol):
    async def read_after(
        self, stream: str, after_id: str, count: int, block_ms: int
    ) -> list[StreamEntry]: ...

    async def close(self) -> None: ...


class _SharedTail:
    """`Bus.read_after` as a TailReader (no connection of its own)."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def read_after(
        self, stream: str, after_id: str, count: int, block_ms: int
    ) -> list[StreamEntry]:
        return await self._bus.read_after(stream, after_id, count=count, block_ms=block_ms)

    async def close(self) -> None:
        return None


def parse_stream_id(entry_id: str) -> tuple[int, int]:
    """`"1700000000000-3"` -> (1700000000000, 3); a bare `"5"` means (5, 0)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
