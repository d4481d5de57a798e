"""One worker's consumer loop: read its streams through its group, handle, ack, retry.

Order of work when the loop starts (this is what makes restarts lose nothing):
1. entries already delivered to this consumer name but never acked (it crashed mid-handle),
2. entries stale in dead consumers of the group (`claim_stale`, after `claim_idle_ms`),
3. new entries, oldest first; stale entries are claimed again every `claim_interval_s`.
An entry is acked only after `handle` returned, or after it was dead-lettered, so an acked
entry is never handled again. While the bus is unreachable the loop logs, backs off and goes
on; acks are retried until they succeed, because a lost ack means a second handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bus import Bus, BusUnavailable, StreamEntry
from bus.base import parse_stream_id
from core.backoff import Backoff
from core.channels import channel_of
from core.loopwatch import ACTIVITIES
from core.metrics import observe_latency
from worker_runtime.deadletters import add_dead_letter
from workers.base import EMIT_SOURCE, BaseWorker, EmitSource

logger = logging.getLogger("streamcore.workers")

T = TypeVar("T")

#: Cap of the delay between two attempts of one entry.
RETRY_DELAY_CAP_S = 30.0
#: Slack added to a worker's longest retry sequence before its pending entries count as stale.
CLAIM_SLACK_S = 30.0


@dataclass
class ConsumerOptions:
    """Tuning of every consumer loop of one runtime."""

    #: Entries read per call; small, so a stop or a claim never waits behind a long batch.
    batch_size: int = 10
    #: How long one read waits for new entries (under the Redis bus' 2 s limit).
    block_ms: int = 1_000
    #: Idle time after which another consumer's pending entry is taken over; None derives it
    #: per worker from its retries and timeout, so a live consumer that is still retrying an
    #: entry never has it stolen (which would handle it twice).
    claim_idle_ms: int | None = None
    #: How often a running loop looks for stale entries of dead consumers.
    claim_interval_s: float = 15.0
    #: A consumer name silent this long with nothing pending is a dead process's (restarts
    #: get new names); the claim pass removes it, so groups do not collect them forever.
    prune_idle_ms: int = 60 * 60 * 1000
    #: Backoff while the bus is unreachable.
    bus_backoff_base_s: float = 0.5
    bus_backoff_cap_s: float = 10.0


@dataclass
class ConsumerStats:
    handled: int = 0
    #: Failed attempts (exceptions and timeouts), retried or not.
    failed: int = 0
    dead_lettered: int = 0
    state: str = "starting"
    last_error: str | None = None


def claim_idle_ms_for(worker: type[BaseWorker]) -> int:
    """The longest a live consumer keeps one entry pending, plus slack, in milliseconds."""
    retry_sleeps = sum(
        min(RETRY_DELAY_CAP_S, worker.retry_delay_s * 2**attempt)
        for attempt in range(worker.max_retries)
    )
    longest = (worker.max_retries + 1) * worker.handle_timeout_s + retry_sleeps
    return int((longest + CLAIM_SLACK_S) * 1000)


class WorkerConsumer:
    """The consumer loop of one worker instance in one process."""

    def __init__(
        self,
        worker: BaseWorker,
        streams: list[str],
        group: str,
        consumer: str,
        bus: Bus,
        options: ConsumerOptions,
    ) -> None:
        self.worker = worker
        self.streams = streams
        self.group = group
        self.consumer = consumer
        self._bus = bus
        self._options = options
        self._claim_idle_ms = options.claim_idle_ms
        if self._claim_idle_ms is None:
            self._claim_idle_ms = claim_idle_ms_for(type(worker))
        self.stats = ConsumerStats()
        self._stopping = asyncio.Event()
        self._bus_backoff = Backoff(options.bus_backoff_base_s, options.bus_backoff_cap_s)

    def request_stop(self) -> None:
        """Finish the entry in hand, then return from `run()`."""
        self._stopping.set()

    async def run(self) -> None:
        name = self.worker.name
        ready = recovered = False
        next_claim = time.monotonic() + self._options.claim_interval_s
        while not self._stopping.is_set():
            try:
                if not ready:
                    for stream in self.streams:
                        # New groups start at the end: a worker added today does not replay
                        # hours of old alerts. Replay streams start at 0: all of it is meant.
                        start = "0" if stream.startswith("replay:") else "$"
                        await self._bus.ensure_group(stream, self.group, start)
                    ready = True
                if not recovered:
                    await self._recover()
                    recovered = True
                    self.stats.state = "running"
                    logger.info("Worker %s running on %s", name, ", ".join(self.streams))
                entries = await self._bus.read_group(
                    self.group,
                    self.consumer,
                    self.streams,
                    count=self._options.batch_size,
                    block_ms=self._options.block_ms,
                )
                await self._process_all(entries)
                if time.monotonic() >= next_claim:
                    await self._claim_stale()
                    await self._prune_dead_consumers()
                    next_claim = time.monotonic() + self._options.claim_interval_s
                self._bus_backoff.reset()
            except BusUnavailable as error:
                # A read whose reply was lost (Redis died after applying it) left entries
                # pending to this consumer unseen: read our own pending entries first again,
                # rather than waiting minutes for another consumer's claim to find them.
                recovered = False
                await self._back_off(f"bus unavailable ({error})")
            except Exception as error:
                recovered = False
                logger.exception("Worker %s consumer loop error", name)
                await self._back_off(f"{type(error).__name__}: {error}")
        self.stats.state = "stopped"

    async def _back_off(self, reason: str) -> None:
        delay = self._bus_backoff.next_delay()
        self.stats.state = "backing_off"
        logger.warning("Worker %s: %s; retrying in %.1fs", self.worker.name, reason, delay)
        await self._sleep_unless_stopping(delay)

    async def _sleep_unless_stopping(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)

    async def _recover(self) -> None:
        for stream in self.streams:
            while not self._stopping.is_set():
                mine = await self._bus.read_pending(
                    self.group, self.consumer, stream, count=self._options.batch_size
                )
                if not mine:
                    break
                await self._process_all(mine)
        await self._claim_stale()

    async def _claim_stale(self) -> None:
        assert self._claim_idle_ms is not None
        for stream in self.streams:
            while not self._stopping.is_set():
                claimed = await self._bus.claim_stale(
                    stream,
                    self.group,
                    self.consumer,
                    self._claim_idle_ms,
                    count=self._options.batch_size,
                )
                if not claimed:
                    break
                logger.info(
                    "Worker %s took over %d stale entries of %s",
                    self.worker.name,
                    len(claimed),
                    stream,
                )
                await self._process_all(claimed)

    async def _prune_dead_consumers(self) -> None:
        for stream in self.streams:
            for consumer in await self._bus.consumers(stream, self.group):
                if (
                    consumer.name != self.consumer
                    and consumer.pending == 0
                    and consumer.idle_ms >= self._options.prune_idle_ms
                ):
                    await self._bus.delete_consumer(stream, self.group, consumer.name)
                    logger.info(
                        "Worker %s: removed consumer %s from %s (idle %d s, nothing pending)",
                        self.worker.name,
                        consumer.name,
                        stream,
                        consumer.idle_ms // 1000,
                    )

    async def _process_all(self, entries: list[StreamEntry]) -> None:
        # Entries of several streams arrive grouped by stream; ids are times, so sorting
        # restores the order in which the gateway wrote them.
        for entry in sorted(entries, key=lambda e: parse_stream_id(e.id)):
            if self._stopping.is_set():
                return  # left pending: handled first thing after the restart
            await self._process(entry)

    async def _process(self, entry: StreamEntry) -> None:
        worker = self.worker
        event_type = entry.fields.get("subscription_type") or entry.stream.partition(":")[2]
        retry_backoff = Backoff(worker.retry_delay_s, RETRY_DELAY_CAP_S)
        attempts = 0
        while True:
            attempts += 1
            # Each attempt numbers its emits from 0 again, so a retry re-emits under the same
            # keys and the events already out keep their ids (workers.base.EmitSource).
            current = EmitSource(_source_of(entry))
            source = EMIT_SOURCE.set(current)
            try:
                payload = json.loads(entry.fields["payload"])
                current.channel = channel_of(payload)  # what `self.channel` and emits carry
                with ACTIVITIES.running(f"worker {worker.name}: handle({event_type})"):
                    await asyncio.wait_for(
                        worker.handle(event_type, payload), timeout=worker.handle_timeout_s
                    )
            except TimeoutError:
                error = f"handle took longer than handle_timeout_s={worker.handle_timeout_s}s"
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                worker.logger.warning(
                    "handle(%s) failed on entry %s (attempt %d of %d): %s",
                    event_type,
                    entry.id,
                    attempts,
                    worker.max_retries + 1,
                    error,
                    exc_info=True,
                )
            else:
                self.stats.handled += 1
                observe_latency("twitch_to_handled", entry.fields.get("message_timestamp"))
                break
            finally:
                EMIT_SOURCE.reset(source)
            self.stats.failed += 1
            self.stats.last_error = error
            if attempts > worker.max_retries:
                await self._until_done(
                    functools.partial(
                        add_dead_letter, self._bus, worker.name, entry, error, attempts
                    )
                )
                self.stats.dead_lettered += 1
                worker.logger.error(
                    "Dead-lettered %s entry %s after %d attempts: %s (fix the worker, then %s)",
                    event_type,
                    entry.id,
                    attempts,
                    error,
                    replay_hint(self._bus.name, worker.name),
                )
                break
            await self._sleep_unless_stopping(retry_backoff.next_delay())
            if self._stopping.is_set():
                return  # left pending; retried after the restart
        await self._until_done(lambda: self._bus.ack(entry.stream, self.group, entry.id))

    async def _until_done(self, call: Callable[[], Awaitable[T]]) -> T:
        """Retry a bus call through outages: losing an ack or a dead letter is not an option."""
        backoff = Backoff(self._options.bus_backoff_base_s, self._options.bus_backoff_cap_s)
        while True:
            try:
                return await call()
            except BusUnavailable as error:
                delay = backoff.next_delay()
                logger.warning(
                    "Worker %s: bus unavailable (%s); retrying in %.1fs",
                    self.worker.name,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)


def _source_of(entry: StreamEntry) -> str:
    """The entry a handle works on, as "<stream>/<id>"; a replayed dead letter names its
    original, so a replay's emits keep the ids the first run gave them (while kept)."""
    fields = entry.fields
    return f"{fields.get('source_stream', entry.stream)}/{fields.get('source_id', entry.id)}"


def replay_hint(bus_name: str, worker_name: str) -> str:
    """How to send a worker's dead letters back, for the bus in use."""
    api = f"POST /system/workers/{worker_name}/replay"
    if bus_name == "memory":
        # The in-process bus is reachable from this process only, and forgets on restart.
        return f"replay them with {api} or the dashboard before restarting (in-process bus)"
    return f"`streamcore workers replay {worker_name}` or {api}"
