"""The in-process bus: the embedded default when REDIS_URL is unset.

It implements the same semantics as the Redis backend inside one process, so a newcomer runs
StreamCore with no services at all. Nothing survives a restart and other processes cannot
reach it; set REDIS_URL for that.
"""

from __future__ import annotations

import asyncio
import bisect
import fnmatch
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bus.base import (
    Bus,
    ConsumerInfo,
    GroupInfo,
    Message,
    StreamCounts,
    StreamEntry,
    Subscription,
    parse_stream_id,
)


class MemorySubscription(Subscription):
    """A bounded queue fed by `MemoryBus.publish`; drops the oldest message when full."""

    def __init__(self, patterns: tuple[str, ...], maxsize: int) -> None:
        super().__init__(maxsize)
        self.patterns = patterns

    def matches(self, channel: str) -> bool:
        return any(fnmatch.fnmatchcase(channel, pattern) for pattern in self.patterns)


@dataclass
class _Pending:
    consumer: str
    delivered_at: float
    deliveries: int = 1


@dataclass
class _Group:
    last_delivered: tuple[int, int]
    pending: dict[str, _Pending] = field(default_factory=dict)
    #: Consumer name -> when it last read (monotonic), as XINFO CONSUMERS reports idle time.
    seen: dict[str, float] = field(default_factory=dict)


@dataclass
class _Stream:
    # Sorted by id, so reads bisect instead of scanning; `by_id` serves pending look-ups.
    keys: list[tuple[int, int]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    by_id: dict[str, dict[str, str]] = field(default_factory=dict)
    last_id: tuple[int, int] = (0, 0)
    groups: dict[str, _Group] = field(default_factory=dict)
    added: asyncio.Event = field(default_factory=asyncio.Event)
    #: Entries ever appended (Redis's XINFO STREAM `entries-added`).
    appended: int = 0


class MemoryBus(Bus):
    name = "memory"

    def __init__(self) -> None:
        self._subscriptions: list[MemorySubscription] = []
        self._streams: dict[str, _Stream] = {}
        self._keys: dict[str, tuple[str, float]] = {}
        #: Token buckets (take_token): key -> (tokens, refilled at), oldest first.
        self._buckets: dict[str, tuple[float, float]] = {}
        #: lease key -> (holder, fencing token, expires at, monotonic)
        self._leases: dict[str, tuple[str, int, float]] = {}
        self._last_token = 0
        self._hashes: dict[str, dict[str, str]] = {}

    async def connect(self) -> None:
        return None

    async def close(self) -> None:
        self._subscriptions.clear()

    # -- pub/sub -----------------------------------------------------------------------------

    async def publish(self, channel: str, data: str) -> int:
        message = Message(channel, data)
        receivers = 0
        for subscription in self._subscriptions:
            if subscription.matches(channel):
                subscription.offer(message)
                receivers += 1
        return receivers

    @asynccontextmanager
    async def psubscribe(
        self, *patterns: str, maxsize: int = 10_000
    ) -> AsyncIterator[Subscription]:
        subscription = MemorySubscription(patterns, maxsize)
        self._subscriptions.append(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.remove(subscription)

    # -- streams -----------------------------------------------------------------------------

    def _stream(self, name: str) -> _Stream:
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = _Stream()
        return stream

    async def append(self, stream: str, fields: dict[str, str], maxlen: int) -> str:
        state = self._stream(stream)
        now_ms = int(time.time() * 1000)
        last_ms, last_seq = state.last_id
        state.last_id = (now_ms, 0) if now_ms > last_ms else (last_ms, last_seq + 1)
        entry_id = f"{state.last_id[0]}-{state.last_id[1]}"
        state.keys.append(state.last_id)
        state.ids.append(entry_id)
        state.by_id[entry_id] = dict(fields)
        state.appended += 1
        # Trim in batches (like Redis' `MAXLEN ~`) so appends stay O(1) amortised.
        excess = len(state.ids) - maxlen
        if excess > max(1, maxlen // 10):
            for trimmed in state.ids[:excess]:
                del state.by_id[trimmed]
                for group in state.groups.values():
                    group.pending.pop(trimmed, None)
            del state.keys[:excess], state.ids[:excess]
        state.added.set()
        state.added = asyncio.Event()
        return entry_id

    async def ensure_group(self, stream: str, group: str, start_id: str = "0") -> None:
        state = self._stream(stream)
        if group not in state.groups:
            start = state.last_id if start_id == "$" else parse_stream_id(start_id)
            state.groups[group] = _Group(last_delivered=start)

    def _group(self, stream: str, group: str) -> _Group:
        state = self._streams.get(stream)
        if state is None or group not in state.groups:
            raise LookupError(f"NOGROUP no consumer group {group!r} for stream {stream!r}")
        return state.groups[group]

    def _deliver_new(self, stream: str, group: str, consumer: str, count: int) -> list[StreamEntry]:
        state = self._streams[stream]
        state_group = self._group(stream, group)
        now = time.monotonic()
        state_group.seen[consumer] = now
        start = bisect.bisect_right(state.keys, state_group.last_delivered)
        delivered: list[StreamEntry] = []
        for position in range(start, min(start + count, len(state.ids))):
            entry_id = state.ids[position]
            state_group.pending[entry_id] = _Pending(consumer, now)
            delivered.append(StreamEntry(stream, entry_id, dict(state.by_id[entry_id])))
        if delivered:
            state_group.last_delivered = state.keys[start + len(delivered) - 1]
        return delivered

    async def read_group(
        self,
        group: str,
        consumer: str,
        streams: Sequence[str],
        count: int = 100,
        block_ms: int | None = None,
    ) -> list[StreamEntry]:
        deadline = None if block_ms is None else time.monotonic() + block_ms / 1000
        while True:
            entries: list[StreamEntry] = []
            for stream in streams:
                self._group(stream, group)
                entries.extend(self._deliver_new(stream, group, consumer, count - len(entries)))
                if len(entries) >= count:
                    break
            if entries or deadline is None:
                return entries
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            waiters = [asyncio.ensure_future(self._streams[s].added.wait()) for s in streams]
            try:
                await asyncio.wait(waiters, timeout=remaining, return_when="FIRST_COMPLETED")
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def read_pending(
        self, group: str, consumer: str, stream: str, count: int = 100
    ) -> list[StreamEntry]:
        state_group = self._group(stream, group)
        state_group.seen[consumer] = time.monotonic()
        entries = self._streams[stream].by_id
        mine = [
            StreamEntry(stream, entry_id, dict(entries[entry_id]))
            for entry_id, pending in state_group.pending.items()
            if pending.consumer == consumer and entry_id in entries
        ]
        mine.sort(key=lambda entry: parse_stream_id(entry.id))
        return mine[:count]

    async def ack(self, stream: str, group: str, *ids: str) -> int:
        state_group = self._group(stream, group)
        return sum(state_group.pending.pop(entry_id, None) is not None for entry_id in ids)

    async def claim_stale(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int = 100
    ) -> list[StreamEntry]:
        state_group = self._group(stream, group)
        entries = self._streams[stream].by_id
        now = time.monotonic()
        state_group.seen[consumer] = now
        claimed: list[StreamEntry] = []
        for entry_id in sorted(state_group.pending, key=parse_stream_id):
            pending = state_group.pending[entry_id]
            if len(claimed) >= count:
                break
            if (now - pending.delivered_at) * 1000 < min_idle_ms:
                continue
            if entry_id not in entries:
                del state_group.pending[entry_id]
                continue
            state_group.pending[entry_id] = _Pending(consumer, now, pending.deliveries + 1)
            claimed.append(StreamEntry(stream, entry_id, dict(entries[entry_id])))
        return claimed

    async def read_range(
        self, stream: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[StreamEntry]:
        state = self._streams.get(stream)
        if state is None:
            return []
        if start == "-":
            first = 0
        elif start.startswith("("):
            first = bisect.bisect_right(state.keys, parse_stream_id(start[1:]))
        else:
            first = bisect.bisect_left(state.keys, parse_stream_id(start))
        if end == "+":
            stop = len(state.keys)
        elif end.startswith("("):
            stop = bisect.bisect_left(state.keys, parse_stream_id(end[1:]))
        else:
            stop = bisect.bisect_right(state.keys, parse_stream_id(end))
        if count is not None:
            stop = min(stop, first + count)
        return [
            StreamEntry(stream, state.ids[i], dict(state.by_id[state.ids[i]]))
            for i in range(first, stop)
        ]

    async def consumers(self, stream: str, group: str) -> list[ConsumerInfo]:
        state = self._streams.get(stream)
        if state is None or group not in state.groups:
            return []
        state_group = state.groups[group]
        now = time.monotonic()
        holding: dict[str, int] = {}
        for pending in state_group.pending.values():
            holding[pending.consumer] = holding.get(pending.consumer, 0) + 1
        return [
            ConsumerInfo(name, holding.get(name, 0), int((now - seen) * 1000))
            for name, seen in state_group.seen.items()
        ]

    async def delete_consumer(self, stream: str, group: str, consumer: str) -> None:
        state_group = self._group(stream, group)
        state_group.seen.pop(consumer, None)
        for entry_id in [i for i, p in state_group.pending.items() if p.consumer == consumer]:
            del state_group.pending[entry_id]

    async def read_after(
        self, stream: str, after_id: str, count: int = 100, block_ms: int | None = None
    ) -> list[StreamEntry]:
        deadline = None if block_ms is None else time.monotonic() + block_ms / 1000
        after = parse_stream_id(after_id)
        while True:
            state = self._stream(stream)
            first = bisect.bisect_right(state.keys, after)
            if first < len(state.ids) or deadline is None:
                return [
                    StreamEntry(stream, state.ids[i], dict(state.by_id[state.ids[i]]))
                    for i in range(first, min(first + count, len(state.ids)))
                ]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            try:
                await asyncio.wait_for(state.added.wait(), remaining)
            except TimeoutError:
                return []

    async def stream_counts(self, stream: str) -> StreamCounts:
        state = self._streams.get(stream)
        if state is None:
            return StreamCounts("0-0", 0, 0)
        last_id = f"{state.last_id[0]}-{state.last_id[1]}"
        return StreamCounts(last_id, state.appended, len(state.ids))

    async def group_info(self, stream: str, group: str) -> GroupInfo | None:
        state = self._streams.get(stream)
        if state is None or group not in state.groups:
            return None
        state_group = state.groups[group]
        lag = len(state.keys) - bisect.bisect_right(state.keys, state_group.last_delivered)
        return GroupInfo(pending=len(state_group.pending), lag=lag)

    # -- keys --------------------------------------------------------------------------------

    async def take_token(self, key: str, rate: float, burst: int) -> float:
        now = time.monotonic()
        tokens, at = self._buckets.pop(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - at) * rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / rate
        self._buckets[key] = (tokens - 1 if wait == 0.0 else tokens, now)
        if len(self._buckets) > 10_000:  # the oldest refill anyway, as Redis expires them
            self._buckets.pop(next(iter(self._buckets)))
        return wait

    async def set_if_absent(self, key: str, value: str, ttl_s: int) -> bool:
        now = time.monotonic()
        current = self._keys.get(key)
        if current is not None and current[1] > now:
            return False
        self._prune_keys(now)
        self._keys[key] = (value, now + ttl_s)
        return True

    def _prune_keys(self, now: float) -> None:
        # Expired keys are dropped in bulk once there are many, as Redis would expire them.
        if len(self._keys) > 100_000:
            self._keys = {k: v for k, v in self._keys.items() if v[1] > now}

    async def delete_key(self, key: str) -> None:
        self._keys.pop(key, None)

    # -- cluster coordination (one process: leases matter only for the same code path) ------

    async def hold_lease(self, key: str, holder: str, ttl_ms: int) -> int | None:
        now = time.monotonic()
        current = self._leases.get(key)
        if current is not None and current[2] > now:
            if current[0] != holder:
                return None
            token = current[1]
        else:
            self._last_token += 1
            token = self._last_token
        self._leases[key] = (holder, token, now + ttl_ms / 1000)
        return token

    async def release_lease(self, key: str, holder: str) -> None:
        current = self._leases.get(key)
        if current is not None and current[0] == holder:
            del self._leases[key]

    async def lease_holder(self, key: str) -> tuple[str, int] | None:
        current = self._leases.get(key)
        if current is None or current[2] <= time.monotonic():
            return None
        return current[0], current[1]

    async def put_field(self, key: str, field: str, value: str) -> None:
        self._hashes.setdefault(key, {})[field] = value

    async def get_fields(self, key: str) -> dict[str, str]:
        return dict(self._hashes.get(key, {}))

    async def delete_field(self, key: str, field: str) -> None:
        self._hashes.get(key, {}).pop(field, None)

    async def append_unique(
        self, stream: str, fields: dict[str, str], maxlen: int, dedupe_key: str, ttl_s: int
    ) -> str | None:
        # Neither call below awaits anything, so no other task runs in between: atomic.
        if not await self.set_if_absent(dedupe_key, "1", ttl_s):
            return None
        return await self.append(stream, fields, maxlen)

    async def append_once(
        self, stream: str, fields: dict[str, str], maxlen: int, key: str, ttl_s: int
    ) -> tuple[str, bool]:
        # Nothing below awaits, so no other task runs in between: atomic.
        now = time.monotonic()
        current = self._keys.get(key)
        if current is not None and current[1] > now:
            return current[0], False
        self._prune_keys(now)
        entry_id = await self.append(stream, fields, maxlen)
        self._keys[key] = (entry_id, now + ttl_s)
        return entry_id, True
