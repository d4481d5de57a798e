"""The exactly-once hand-off: each notification lands once in `eventsub:{type}`, or waits.

Order of operations, and why no crash or Redis restart loses or doubles an event: the dedupe
key (DEDUPE_KEY, TTL DEDUPE_TTL_S >= Twitch's 10-minute replay window) and the stream entry are
written by ONE atomic bus call, `Bus.append_unique` (a Lua script on Redis; a batch of them
goes in one pipeline, each still atomic and applied in order). So:
- the key never exists without the entry: a failed call leaves neither, and we retry;
- the entry never exists without the key: a redelivery (same message_id on the other socket of
  a reconnect, or after a restart of StreamCore) finds the key and is skipped;
- a reply lost after Redis applied the script is retried and answers "duplicate", which is
  right, because the entry is there.
While the bus is unavailable the gateway holds the frame and retries with capped, jittered
back-off; it reads no further frame meanwhile (the socket buffers, Twitch's keepalive timer is
ours to lose: a long Redis outage ends in a reconnect, never in a dropped message we acked).

The webhook callback's `try_deliver` commits in groups: the notifications of the requests that
arrive while one `append_unique_many` round trip is in flight go together in the next one (at
low load that is a batch of one, sent at once). Each request still learns its own outcome (its
entry id, None for a duplicate, or BusUnavailable) and is answered only after it: the same
guarantees, but one Redis round trip, and one pass through the client library, per batch
instead of per request, which is most of a notification's cost under load.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

from bus import Bus, BusUnavailable
from core.backoff import Backoff
from core.constants import DEDUPE_KEY, DEDUPE_TTL_S, EVENTSUB_STREAM
from gateway.protocol import Notification

logger = logging.getLogger("streamcore.gateway")

#: Back-off while the bus is down: quick first retries (a Redis restart takes about a second),
#: capped so the gateway notices Redis' return within a few seconds.
BUS_RETRY_BASE_S = 0.05
BUS_RETRY_CAP_S = 2.0

#: One `Bus.append_unique_many` item: stream, fields, maxlen, dedupe key, dedupe TTL.
Item = tuple[str, dict[str, str], int, str, int]
#: try_deliver's group commits in flight at once (each on its own Redis connection).
COMMITS_IN_FLIGHT = 2
#: Longest a group commit waits for Redis. Its callers stop waiting sooner (the webhook
#: callback answers 503 after 2 s); this bound frees the committer, and the connection (which
#: the client drops when cancelled), so one hung connection cannot hold every later request.
COMMIT_TIMEOUT_S = 2.0


def _fail(batch: Sequence[tuple[Item, asyncio.Future[str | None]]], error: Exception) -> None:
    """Each request of `batch` still waiting raises `error` (its own copy of a
    BusUnavailable, so each raise has its own traceback)."""
    for _, future in batch:
        if not future.done():
            copy = BusUnavailable(str(error)) if isinstance(error, BusUnavailable) else error
            future.set_exception(copy)


def stream_fields(notification: Notification) -> dict[str, str]:
    """The entry the workers' runtime reads (see core.constants.EVENTSUB_STREAM)."""
    return {
        "message_id": notification.message_id,
        "message_timestamp": notification.timestamp,
        "subscription_type": notification.subscription_type,
        "subscription_version": notification.subscription_version,
        "payload": json.dumps(notification.payload, separators=(",", ":"), ensure_ascii=False),
    }


class Handoff:
    """Appends notifications once each; `deliver` returns only when that is settled."""

    def __init__(
        self,
        bus: Bus,
        maxlen: int,
        dedupe_ttl_s: int = DEDUPE_TTL_S,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._bus = bus
        self._maxlen = maxlen
        self._ttl = dedupe_ttl_s
        self._sleep = sleep
        #: Times an append waited for the bus (for status and metrics).
        self.bus_retries = 0
        #: try_deliver's group commit: what waits for the next round trip, and the tasks
        #: sending batches (at most COMMITS_IN_FLIGHT; none when nothing waits).
        self._waiting: list[tuple[Item, asyncio.Future[str | None]]] = []
        self._committers: set[asyncio.Task[None]] = set()

    async def deliver_many(self, notifications: Sequence[Notification]) -> list[str | None]:
        """Append each once, in order, in one round trip; per notification the entry id, or
        None for a duplicate. Retries the whole batch while the bus is down (until cancelled:
        the frames are never dropped); items applied before a failure answer None on the
        retry, which is right because their entries exist."""
        items = self._items(notifications)
        backoff: Backoff | None = None
        while True:
            try:
                results = await self._bus.append_unique_many(items)
            except BusUnavailable as error:
                if backoff is None:
                    backoff = Backoff(BUS_RETRY_BASE_S, BUS_RETRY_CAP_S)
                    logger.warning(
                        "Cannot append %d EventSub message(s) (%s); holding them and retrying",
                        len(items),
                        error,
                    )
                self.bus_retries += 1
                await self._sleep(backoff.next_delay())
                continue
            if backoff is not None:
                logger.info("The bus is back; %d held message(s) handed off", len(items))
            return results

    async def try_deliver(self, notification: Notification) -> str | None:
        """Append once, now: the entry id, or None for a duplicate. Raises BusUnavailable
        instead of waiting (the webhook callback answers 503 then, and Twitch retries).

        Goes in the next group commit (see the module's docstring). A caller cancelled while
        waiting (its deadline passed) leaves the batch alone: its notification may still be
        stored, which the redelivery then finds as a duplicate."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((self._items([notification])[0], future))
        if len(self._committers) < COMMITS_IN_FLIGHT:
            committer = asyncio.create_task(self._commit())
            self._committers.add(committer)
            committer.add_done_callback(self._committers.discard)
        return await future

    async def _commit(self) -> None:
        """Send what waits, one `append_unique_many` at a time, until nothing does."""
        batch: list[tuple[Item, asyncio.Future[str | None]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    async with asyncio.timeout(COMMIT_TIMEOUT_S):
                        results = await self._bus.append_unique_many([item for item, _ in batch])
                except TimeoutError:
                    _fail(batch, BusUnavailable(f"no answer within {COMMIT_TIMEOUT_S:g} s"))
                    continue
                except Exception as error:  # each waiting request answers it (BusUnavailable: 503)
                    _fail(batch, error)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
                batch = []
        except BaseException:  # cancelled (shutdown): nobody may wait forever
            _fail([*batch, *self._waiting], BusUnavailable("stopping; not stored"))
            self._waiting = []
            raise

    def _items(self, notifications: Sequence[Notification]) -> list[Item]:
        return [
            (
                EVENTSUB_STREAM.format(type=n.subscription_type),
                stream_fields(n),
                self._maxlen,
                DEDUPE_KEY.format(message_id=n.message_id),
                self._ttl,
            )
            for n in notifications
        ]
