"""The broadcaster: one task that tails the event log and fans each event out.

The source is the durable log (`eventlog`, EVENTS_LOG_STREAM), read from a position this
process keeps (`run`): one read position per process, not per client. Pub/sub is
fire-and-forget, so a subscriber that is away while Redis restarts misses what was published
meanwhile and never knows; the log keeps every event, so after an outage the tail resumes
where it stopped and a connected client receives every event, once, in order.

Each entry is turned into its envelope once (an `Outgoing` with its text and frame), then
handed to every client whose filter matches, through `Client.offer`, which never awaits: the
loop's speed does not depend on any client's. See events.clients for the per-client buffer
policy.

Reading: the tail has a Redis connection of its own (`Bus.tail_reader`), and while events pour
in (events.tail_pacing: from TAIL_BUSY_RATE per second) it waits TAIL_LINGER_S after each read,
so one read brings a batch: the cost of a read, mostly the process's wake-ups, is shared by the
batch instead of paid per event (bench/channels.py measures it). At a channel's usual rates
nothing waits.

Per event the work is one envelope and one frame; per client, one filter check and one
`Sink.try_write`. Latency is observed from the entry's id, whose first part is
its append time, so no timestamp is parsed per event.

Raw messages other programs PUBLISH are wrapped into the log by events.raw, on the
coordinator only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bus import Bus, BusError
from bus.base import StreamEntry
from core.backoff import Backoff
from core.constants import EVENTS_LOG_STREAM, KEY_REVOKED_CHANNEL
from core.errors import StreamCoreError
from core.metrics import latency_stage
from events.clients import Client
from events.constants import (
    BROADCAST_ERROR_PAUSE_S,
    CLOSE_UNAUTHORIZED,
    KEY_RECHECK_S,
    RETENTION_TRIM_INTERVAL_S,
    TAIL_BATCH_BYTES,
    TAIL_BLOCK_MS,
    TAIL_BUSY_RATE,
    TAIL_LINGER_S,
    TAIL_RATE_WINDOW_S,
    TAIL_READ_COUNT,
    TAIL_RETRY_BASE_S,
    TAIL_RETRY_CAP_S,
    TAIL_STALL_S,
)
from events.frames import Outgoing
from events.raw import RawEventWrapper
from events.replay import entry_to_outgoing
from events.tail_pacing import TailPacer
from events.tail_trim import EVENTS_LOST, TrimWatch, lost_notice

__all__ = ["BroadcastStats", "Broadcaster"]

logger = logging.getLogger("streamcore.events")


@dataclass(slots=True)
class BroadcastStats:
    """Counters for status and metrics."""

    events: int = 0
    #: Reads of the log that returned events: events / log_reads is the batching the
    #: linger achieves (see the module docstring).
    log_reads: int = 0
    slow_disconnects: int = 0
    #: Times the event log became unreadable (each outage counted once).
    outages: int = 0
    #: Events trimmed from the log before this replica's tail read them (events.tail_trim).
    trimmed_unread: int = 0


class Broadcaster:
    """Owns the set of connected clients and the single fan-out loop."""

    def __init__(
        self, bus: Bus, retention_count: int, retention_seconds: int, replay_concurrency: int = 8
    ) -> None:
        self._bus = bus
        #: Replays reading the log at once (see events.session._replay); the rest queue.
        self.replay_slots = asyncio.Semaphore(replay_concurrency)
        self.retention_count = retention_count
        self.retention_seconds = retention_seconds
        # Copy-on-write tuple: the hot loop iterates it without copying per event.
        self._clients: tuple[Client, ...] = ()
        #: The index of clients by channel: a channel's event is offered to the clients of
        #: that channel and to those of every channel, never to the other channels' clients,
        #: so its cost follows its audience, not the number of clients.
        self._unrestricted: tuple[Client, ...] = ()
        self._by_channel: dict[str, tuple[Client, ...]] = {}
        self.stats = BroadcastStats()
        self._latency = latency_stage("emit_to_fanout")
        #: This process's raw-message wrapper (events.raw), for status; set by its owner.
        self.raw: RawEventWrapper | None = None
        #: Set once the tail knows its position in the log: every event appended from then
        #: on reaches the clients (tests and status wait on it).
        self.ready = asyncio.Event()

    # -- clients ----------------------------------------------------------------------------

    def add(self, client: Client) -> None:
        client.on_too_slow = self._count_slow
        self._clients = (*self._clients, client)
        if client.channels is None:
            self._unrestricted = (*self._unrestricted, client)
        for channel in client.channels or ():
            self._by_channel[channel] = (*self._by_channel.get(channel, ()), client)

    def remove(self, client: Client) -> None:
        self._clients = tuple(c for c in self._clients if c is not client)
        if client.channels is None:
            self._unrestricted = tuple(c for c in self._unrestricted if c is not client)
        for channel in client.channels or ():
            rest = tuple(c for c in self._by_channel.get(channel, ()) if c is not client)
            if rest:
                self._by_channel[channel] = rest
            else:
                self._by_channel.pop(channel, None)

    def connected_clients(self) -> int:
        return len(self._clients)

    def channel_clients(self) -> dict[str, int]:
        """Clients restricted to each channel (the others get every channel's events)."""
        return {channel: len(clients) for channel, clients in self._by_channel.items()}

    def close_key(self, key_id: str) -> int:
        """Close every client connected with that (revoked) key; returns how many."""
        closing = [client for client in self._clients if client.key_id == key_id]
        for client in closing:
            client.request_close(CLOSE_UNAUTHORIZED, "key revoked")
        if closing:
            logger.info("Closed %d client(s) of revoked key %s", len(closing), key_id)
        return len(closing)

    async def recheck_keys(self, active_ids: Callable[[], Awaitable[set[str]]]) -> None:
        """Every KEY_RECHECK_S, close clients whose key is gone: the backstop for a revocation
        notice that never arrived (Redis restarting, a revocation from another tool)."""
        while True:
            await asyncio.sleep(KEY_RECHECK_S)
            keyed = {client.key_id for client in self._clients if client.key_id is not None}
            if not keyed:
                continue
            try:
                active = await active_ids()
            except StreamCoreError as error:
                logger.warning("Could not re-check client keys (%s); retrying later", error)
                continue
            for key_id in keyed - active:
                self.close_key(key_id)

    def close_all(self, code: int, reason: str) -> None:
        """Ask every client to close (server restart, tests)."""
        for client in self._clients:
            client.request_close(code, reason)

    def _count_slow(self, client: Client) -> None:
        self.stats.slow_disconnects += 1
        logger.info("Disconnected slow event client %s (%s)", client.label, "4008 too slow")

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.connected_clients(),
            "events": self.stats.events,
            "log_reads": self.stats.log_reads,
            "raw_wrapped": self.raw.wrapped if self.raw is not None else 0,
            "slow_disconnects": self.stats.slow_disconnects,
            "bus_dropped": self.raw.dropped if self.raw is not None else 0,
            "log_outages": self.stats.outages,
            "trimmed_unread": self.stats.trimmed_unread,
            "subscribed": self.ready.is_set(),
        }

    # -- fan-out ----------------------------------------------------------------------------

    def fan_out(self, event: Outgoing) -> None:
        """Offer `event` to every matching client (never awaits)."""
        self.stats.events += 1
        name = event.name
        channel = event.channel
        if channel is None:  # a system event: every client's
            for client in self._clients:
                if client.all_events or client.filter.matches(name):
                    client.offer(event)
            return
        for client in self._unrestricted:
            if client.all_events or client.filter.matches(name):
                client.offer(event)
        for client in self._by_channel.get(channel, ()):
            if client.all_events or client.filter.matches(name):
                client.offer(event)

    def deliver(self, entries: list[StreamEntry]) -> int:
        """Fan out a read of the log, in order; returns the bytes of its frames."""
        latency = self._latency
        self.stats.log_reads += 1
        now_ms = time.time() * 1000
        size = 0
        for entry in entries:
            entry_id = entry.id
            # The id's first part is the append time (Redis's clock, in ms).
            latency.observe((now_ms - int(entry_id.partition("-")[0])) / 1000)
            event = entry_to_outgoing(entry)
            size += len(event.frame)
            self.fan_out(event)
        return size

    async def run(self) -> None:
        """Tail the event log from its current end and fan out, until cancelled.

        While the bus is unreachable the position is kept; reading resumes from it, so what
        was appended meanwhile is delivered late but never lost or doubled.
        """
        position: str | None = None
        pause = Backoff(TAIL_RETRY_BASE_S, TAIL_RETRY_CAP_S)
        tail = self._bus.tail_reader()
        loop = asyncio.get_running_loop()
        pacer = TailPacer(
            TAIL_LINGER_S, TAIL_BUSY_RATE, TAIL_RATE_WINDOW_S, TAIL_READ_COUNT, TAIL_BATCH_BYTES
        )
        watch = TrimWatch(
            min(TAIL_READ_COUNT, self.retention_count), TAIL_STALL_S, TAIL_BLOCK_MS / 1000
        )
        try:
            while True:
                try:
                    if position is None:
                        # Start at the end: history is for `?since=` replays, not new clients.
                        counts = await self._bus.stream_counts(EVENTS_LOG_STREAM)
                        position = counts.last_id
                        watch.baseline(counts, position)
                        self.ready.set()
                    elif watch.check_due(loop.time()):
                        counts = await self._bus.stream_counts(EVENTS_LOG_STREAM)
                        watch.baseline(counts, position)
                        lost = watch.checked(counts)
                        if lost:
                            self._announce_lost(position, lost)
                    asked = loop.time()
                    entries = await tail.read_after(
                        EVENTS_LOG_STREAM, position, TAIL_READ_COUNT, TAIL_BLOCK_MS
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    self.stats.outages += pause.attempts == 0
                    watch.lost_track()
                    delay = pause.next_delay()
                    log = logger.warning if isinstance(error, BusError) else logger.exception
                    log("Event log unreadable (%s); fan-out resumes after %s in %.1f s",
                        error, position, delay)  # fmt: skip
                    await asyncio.sleep(delay)
                    continue
                if pause.attempts:
                    logger.info("Event log readable again; fan-out resumed after %s", position)
                    pause.reset()
                now = loop.time()
                size = 0
                if entries:
                    newest_ms = int(entries[-1].id.partition("-")[0])
                    watch.read(len(entries), now, now - asked, time.time() - newest_ms / 1000)
                    size = self.deliver(entries)
                    position = entries[-1].id
                else:
                    watch.read(0, now, now - asked, 0.0)
                linger = pacer.after_read(now, now - asked, len(entries), size)
                if linger:
                    # Events pour in: let more arrive so the next read takes a batch.
                    await asyncio.sleep(linger)
        finally:
            await tail.close()

    def _announce_lost(self, position: str, lost: int) -> None:
        """Trimmed before delivery: gone from the log too, so every client is told."""
        self.stats.trimmed_unread += lost
        logger.warning(
            "The event log was trimmed past this replica's fan-out: %d event(s) after %s were "
            "removed before it delivered them, and its %d client(s) got %s. Raise "
            "EVENTS_RETENTION_COUNT (now %d) above the events of the longest stall at peak, "
            "or find what stalls this process (the loop watch logs it).",
            lost,
            position,
            len(self._clients),
            EVENTS_LOST,
            self.retention_count,
        )
        notice = lost_notice(position, lost)
        for client in self._clients:
            client.offer(notice)

    async def run_revocations(self) -> None:
        """Close the clients of a key revoked on any replica (KEY_REVOKED_CHANNEL)."""
        while True:
            try:
                async with self._bus.psubscribe(KEY_REVOKED_CHANNEL) as subscription:
                    while True:
                        self.close_key((await subscription.get()).data)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Key revocation listener failed; resubscribing")
                await asyncio.sleep(BROADCAST_ERROR_PAUSE_S)

    # -- retention ----------------------------------------------------------------------------

    async def trim_retention(self) -> None:
        """Trim the retention stream by age every RETENTION_TRIM_INTERVAL_S (Redis only).

        The count limit is applied by every append (MAXLEN); the age limit needs MINID, which
        the Bus interface does not offer, so it is issued here on the Redis client. The
        in-process bus keeps the count limit only; replay ignores entries past the age limit
        on every backend, so the visible behaviour is the same.
        """
        client = getattr(self._bus, "client", None)
        if client is None:
            return
        while True:
            min_id = int(time.time() * 1000) - self.retention_seconds * 1000
            try:
                await client.execute_command("XTRIM", EVENTS_LOG_STREAM, "MINID", "~", min_id)
            except Exception as error:
                logger.warning("Could not trim %s by age (%s)", EVENTS_LOG_STREAM, error)
            await asyncio.sleep(RETENTION_TRIM_INTERVAL_S)
