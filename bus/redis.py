"""The Redis bus: production backend, shared by every StreamCore process.

Survives a Redis restart: pattern subscriptions re-subscribe by themselves with capped,
jittered backoff, and stream reads recreate a lost consumer group. While Redis is down every
call raises `BusUnavailable` at once, so callers (publishers, consumer loops) decide what to do
and the HTTP side keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bus.base import (
    Bus,
    ConsumerInfo,
    GroupInfo,
    Message,
    StreamCounts,
    StreamEntry,
    Subscription,
    TailReader,
)
from bus.errors import BusUnavailable
from bus.redis_scripts import (
    APPEND_ONCE,
    APPEND_UNIQUE,
    HOLD_LEASE,
    RELEASE_LEASE,
    TAKE_TOKEN,
    Script,
)
from bus.redis_tail import RedisTail, dedicated_tail_supported
from core.backoff import Backoff
from core.errors import BackendUnavailable
from core.settings import redact_url

logger = logging.getLogger("streamcore.bus")

#: Longest a blocking XREADGROUP may wait; it must stay under the socket timeout (5 s) so a
#: blocked read is never mistaken for a dead connection.
MAX_BLOCK_MS = 2_000
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)

#: How long a call waits for a free pooled connection before it counts as unavailable: a burst
#: (a reconnect storm replaying history) queues for connections instead of failing at once.
POOL_WAIT_S = 5.0


class RedisSubscription(Subscription):
    """A bounded queue fed by a listener task that re-subscribes after connection loss."""

    def __init__(self, maxsize: int) -> None:
        super().__init__(maxsize)
        self.ready = asyncio.Event()


class RedisBus(Bus):
    name = "redis"

    def __init__(self, url: str, max_connections: int = 100) -> None:
        self._url = url
        # A blocking pool: at `max_connections` a call waits (up to POOL_WAIT_S) for a free
        # connection instead of failing with "Too many connections".
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=POOL_WAIT_S,
            decode_responses=True,
            socket_connect_timeout=2,
            health_check_interval=15,
            # No silent retries: a retried XREADGROUP whose first reply was lost would leave
            # entries pending unseen. Errors surface as BusUnavailable and callers recover.
            retry=Retry(NoBackoff(), retries=0),
        )
        # from_pool: closing the client closes the pool it owns.
        self._client: aioredis.Redis = aioredis.Redis.from_pool(pool)
        self._groups: set[tuple[str, str, str]] = set()

    @property
    def client(self) -> aioredis.Redis:
        return self._client

    async def connect(self) -> None:
        try:
            await self._client.ping()
        except (RedisError, OSError) as error:
            raise BackendUnavailable(
                f"Cannot reach Redis at {redact_url(self._url)} ({error}). "
                "Start Redis or fix REDIS_URL (unset it to use the in-process bus)."
            ) from None

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, *args: Any) -> Any:
        try:
            return await self._client.execute_command(*args)
        except _UNAVAILABLE as error:
            raise BusUnavailable(f"Redis is unavailable ({error}); retry later") from None

    # -- pub/sub -----------------------------------------------------------------------------

    async def publish(self, channel: str, data: str) -> int:
        return int(await self._call("PUBLISH", channel, data))

    @asynccontextmanager
    async def psubscribe(
        self, *patterns: str, maxsize: int = 10_000
    ) -> AsyncIterator[Subscription]:
        subscription = RedisSubscription(maxsize)
        listener = asyncio.create_task(
            self._listen(patterns, subscription), name=f"redis-psubscribe {patterns}"
        )
        try:
            # The subscription is live once Redis confirmed it, so nothing published after
            # `async with` returns can be missed. If Redis is down we go on; it resumes later.
            with suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(subscription.ready.wait()), 5)
            yield subscription
        finally:
            listener.cancel()
            with suppress(asyncio.CancelledError):
                await listener

    async def _listen(self, patterns: tuple[str, ...], subscription: RedisSubscription) -> None:
        backoff = Backoff(base=0.1, cap=5.0)
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(*patterns)
                subscription.ready.set()
                if backoff.attempts:
                    logger.info("Redis pattern subscription %s resumed", ",".join(patterns))
                backoff.reset()
                while True:
                    raw = await pubsub.get_message(timeout=1.0)
                    if raw is not None and raw["type"] == "pmessage":
                        subscription.offer(Message(raw["channel"], raw["data"]))
            except (*_UNAVAILABLE, RedisError) as error:
                delay = backoff.next_delay()
                logger.warning(
                    "Redis subscription %s lost (%s); retrying in %.1fs",
                    ",".join(patterns),
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
            finally:
                with suppress(Exception):
                    await pubsub.aclose()

    # -- streams -----------------------------------------------------------------------------

    async def append(self, stream: str, fields: dict[str, str], maxlen: int) -> str:
        flat: list[str] = []
        for key, value in fields.items():
            flat += (key, value)
        return str(await self._call("XADD", stream, "MAXLEN", "~", maxlen, "*", *flat))

    async def ensure_group(self, stream: str, group: str, start_id: str = "0") -> None:
        try:
            await self._call("XGROUP", "CREATE", stream, group, start_id, "MKSTREAM")
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._groups.add((stream, group, start_id))

    async def _recreate_groups(self, group: str, streams: Sequence[str]) -> None:
        # After a Redis restart without persistence the groups are gone; recreate them so the
        # consumer loop resumes instead of failing forever.
        for stream in streams:
            start = next((s for (st, g, s) in self._groups if st == stream and g == group), "0")
            await self.ensure_group(stream, group, start)

    async def read_group(
        self,
        group: str,
        consumer: str,
        streams: Sequence[str],
        count: int = 100,
        block_ms: int | None = None,
    ) -> list[StreamEntry]:
        args: list[Any] = ["XREADGROUP", "GROUP", group, consumer, "COUNT", count]
        if block_ms is not None:
            args += ["BLOCK", min(block_ms, MAX_BLOCK_MS)]
        args += ["STREAMS", *streams, *([">"] * len(streams))]
        try:
            reply = await self._call(*args)
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            await self._recreate_groups(group, streams)
            reply = await self._call(*args)
        return _entries(reply)

    async def read_pending(
        self, group: str, consumer: str, stream: str, count: int = 100
    ) -> list[StreamEntry]:
        try:
            reply = await self._call(
                "XREADGROUP", "GROUP", group, consumer, "COUNT", count, "STREAMS", stream, "0"
            )
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            await self._recreate_groups(group, [stream])
            return []
        return [entry for entry in _entries(reply) if entry.fields]

    async def ack(self, stream: str, group: str, *ids: str) -> int:
        if not ids:
            return 0
        return int(await self._call("XACK", stream, group, *ids))

    async def claim_stale(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int = 100
    ) -> list[StreamEntry]:
        try:
            reply = await self._call(
                "XAUTOCLAIM", stream, group, consumer, min_idle_ms, "0-0", "COUNT", count
            )
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            return []
        return [StreamEntry(stream, eid, _fields(raw)) for eid, raw in reply[1] if raw]

    async def read_range(
        self, stream: str, start: str = "-", end: str = "+", count: int | None = None
    ) -> list[StreamEntry]:
        args: list[Any] = ["XRANGE", stream, start, end]
        if count is not None:
            args += ["COUNT", count]
        reply = await self._call(*args)
        return [StreamEntry(stream, eid, _fields(raw)) for eid, raw in reply]

    async def consumers(self, stream: str, group: str) -> list[ConsumerInfo]:
        try:
            found = await self._client.xinfo_consumers(stream, group)
        except ResponseError:
            return []
        except _UNAVAILABLE as error:
            raise BusUnavailable(f"Redis is unavailable ({error}); retry later") from None
        return [ConsumerInfo(str(c["name"]), int(c["pending"]), int(c["idle"])) for c in found]

    async def delete_consumer(self, stream: str, group: str, consumer: str) -> None:
        await self._call("XGROUP", "DELCONSUMER", stream, group, consumer)

    async def read_after(
        self, stream: str, after_id: str, count: int = 100, block_ms: int | None = None
    ) -> list[StreamEntry]:
        args: list[Any] = ["XREAD", "COUNT", count]
        if block_ms is not None:
            args += ["BLOCK", min(block_ms, MAX_BLOCK_MS)]
        return _entries(await self._call(*args, "STREAMS", stream, after_id))

    async def take_token(self, key: str, rate: float, burst: int) -> float:
        return float(await self._script(TAKE_TOKEN, [key], [rate, burst]))

    def tail_reader(self) -> TailReader:
        if dedicated_tail_supported(self._url):
            return RedisTail(self._url)
        return super().tail_reader()

    async def stream_counts(self, stream: str) -> StreamCounts:
        try:
            info = await self._client.xinfo_stream(stream)
        except ResponseError as error:
            if "no such key" in str(error).lower():
                return StreamCounts("0-0", 0, 0)
            raise
        except _UNAVAILABLE as error:
            raise BusUnavailable(f"Redis is unavailable ({error}); retry later") from None
        return StreamCounts(
            str(info["last-generated-id"]), int(info["entries-added"]), int(info["length"])
        )

    async def group_info(self, stream: str, group: str) -> GroupInfo | None:
        try:
            groups = await self._client.xinfo_groups(stream)
        except ResponseError:
            return None
        except _UNAVAILABLE as error:
            raise BusUnavailable(f"Redis is unavailable ({error}); retry later") from None
        for info in groups:
            if info["name"] == group:
                return GroupInfo(pending=int(info["pending"]), lag=int(info.get("lag") or 0))
        return None

    # -- keys --------------------------------------------------------------------------------

    async def set_if_absent(self, key: str, value: str, ttl_s: int) -> bool:
        return bool(await self._call("SET", key, value, "NX", "EX", ttl_s))

    async def delete_key(self, key: str) -> None:
        await self._call("DEL", key)

    # -- cluster coordination ----------------------------------------------------------------

    async def hold_lease(self, key: str, holder: str, ttl_ms: int) -> int | None:
        reply = await self._script(HOLD_LEASE, (key, f"{key}:fence"), (holder, ttl_ms))
        return None if reply is None else int(reply)

    async def release_lease(self, key: str, holder: str) -> None:
        await self._script(RELEASE_LEASE, (key,), (holder,))

    async def lease_holder(self, key: str) -> tuple[str, int] | None:
        holder, token = await self._call("HMGET", key, "holder", "token")
        return None if holder is None or token is None else (str(holder), int(token))

    async def put_field(self, key: str, field: str, value: str) -> None:
        await self._call("HSET", key, field, value)

    async def get_fields(self, key: str) -> dict[str, str]:
        return dict(await self._call("HGETALL", key) or {})

    async def delete_field(self, key: str, field: str) -> None:
        await self._call("HDEL", key, field)

    async def _script(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await self._call("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            # First use, or Redis restarted and lost its script cache.
            return await self._call("EVAL", script.source, len(keys), *keys, *args)

    async def append_unique(
        self, stream: str, fields: dict[str, str], maxlen: int, dedupe_key: str, ttl_s: int
    ) -> str | None:
        # One script (bus.redis_scripts.APPEND_UNIQUE says why).
        reply = await self._run(APPEND_UNIQUE, dedupe_key, stream, ttl_s, maxlen, fields)
        return None if reply is None else str(reply)

    async def append_once(
        self, stream: str, fields: dict[str, str], maxlen: int, key: str, ttl_s: int
    ) -> tuple[str, bool]:
        appended, entry_id = await self._run(APPEND_ONCE, key, stream, ttl_s, maxlen, fields)
        return str(entry_id), bool(appended)

    async def _run(
        self, script: Script, key: str, stream: str, ttl_s: int, maxlen: int, fields: dict[str, str]
    ) -> Any:
        flat: list[str] = []
        for name, value in fields.items():
            flat += (name, value)
        args = (2, key, stream, ttl_s, maxlen, *flat)
        try:
            return await self._call("EVALSHA", script.sha, *args)
        except NoScriptError:
            # First use, or Redis restarted and lost its script cache.
            return await self._call("EVAL", script.source, *args)

    async def append_unique_many(
        self, items: Sequence[tuple[str, dict[str, str], int, str, int]]
    ) -> list[str | None]:
        # One pipeline (no MULTI): each script stays atomic, Redis runs them in order, and the
        # batch costs one round trip. Applied items answer None on a retry (see base).
        if not items:
            return []
        for attempt in range(2):
            pipe = self._client.pipeline(transaction=False)
            for stream, fields, maxlen, key, ttl_s in items:
                flat: list[str] = []
                for name, value in fields.items():
                    flat += (name, value)
                pipe.execute_command(
                    "EVALSHA", APPEND_UNIQUE.sha, 2, key, stream, ttl_s, maxlen, *flat
                )
            try:
                replies = await pipe.execute(raise_on_error=False)
            except _UNAVAILABLE as error:
                raise BusUnavailable(f"Redis is unavailable ({error}); retry later") from None
            if attempt == 0 and any(isinstance(r, NoScriptError) for r in replies):
                # Redis restarted and lost its script cache: nothing ran; load it and resend.
                await self._call("SCRIPT", "LOAD", APPEND_UNIQUE.source)
                continue
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return [None if reply is None else str(reply) for reply in replies]
        raise AssertionError("unreachable")  # pragma: no cover


def _fields(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return dict(raw)
    return dict(zip(raw[::2], raw[1::2], strict=True))


def _entries(reply: Any) -> list[StreamEntry]:
    if not reply:
        return []
    items = reply.items() if isinstance(reply, dict) else reply
    result: list[StreamEntry] = []
    for stream, entries in items:
        result.extend(StreamEntry(stream, eid, _fields(raw) if raw else {}) for eid, raw in entries)
    return result
