"""The broadcaster: one task that reads `events:*` from the bus and fans each event out.

Each message is parsed and serialised once (an `Outgoing` with its text and frame), then handed
to every client whose filter matches, through `Client.offer`, which never awaits: the loop's
speed does not depend on any client's. See events.clients for the per-client buffer policy.

Raw messages: anything PUBLISHed to `events:<name>` that is not a StreamCore envelope (for
example `redis-cli PUBLISH events:foo '{"x":1}'` or plain text) is wrapped here: event = the
channel minus `events:`, data = the parsed JSON or the text. To give it an id that `?since=`
understands, the broadcaster appends it to the retention stream (as EventPublisher does) and
uses that entry id; so raw messages are replayable too. With several StreamCore processes on one
Redis, each one appends its own copy (each with its own id); programs other than StreamCore
that need exactly-once ids should XADD to `eventlog` and PUBLISH the envelope themselves, or go
through EventPublisher.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from bus import Bus, BusError, Message
from core.constants import EVENTS_LOG_STREAM, EVENTS_PATTERN
from core.metrics import observe_latency
from events.clients import Client
from events.constants import (
    BROADCAST_ERROR_PAUSE_S,
    RETENTION_TRIM_INTERVAL_S,
    SUBSCRIPTION_QUEUE,
)
from events.errors import EventDataError
from events.frames import Outgoing
from events.publisher import encode_data, envelope_text, now_iso

__all__ = ["BroadcastStats", "Broadcaster"]

logger = logging.getLogger("streamcore.events")

_CHANNEL_PREFIX = EVENTS_PATTERN.removesuffix("*")
_ENVELOPE_KEYS = frozenset(("event", "data", "id", "ts"))


@dataclass(slots=True)
class BroadcastStats:
    """Counters for status and metrics."""

    events: int = 0
    raw_wrapped: int = 0
    slow_disconnects: int = 0
    bus_dropped: int = 0


class Broadcaster:
    """Owns the set of connected clients and the single fan-out loop."""

    def __init__(self, bus: Bus, retention_count: int, retention_seconds: int) -> None:
        self._bus = bus
        self.retention_count = retention_count
        self.retention_seconds = retention_seconds
        # Copy-on-write tuple: the hot loop iterates it without copying per event.
        self._clients: tuple[Client, ...] = ()
        self.stats = BroadcastStats()
        #: Set while the bus subscription is live (clients connecting earlier miss nothing
        #: they could replay, but tests and status wait on it).
        self.ready = asyncio.Event()

    # -- clients ----------------------------------------------------------------------------

    def add(self, client: Client) -> None:
        client.on_too_slow = self._count_slow
        self._clients = (*self._clients, client)

    def remove(self, client: Client) -> None:
        self._clients = tuple(c for c in self._clients if c is not client)

    def connected_clients(self) -> int:
        return len(self._clients)

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
            "raw_wrapped": self.stats.raw_wrapped,
            "slow_disconnects": self.stats.slow_disconnects,
            "bus_dropped": self.stats.bus_dropped,
            "subscribed": self.ready.is_set(),
        }

    # -- fan-out ----------------------------------------------------------------------------

    def fan_out(self, event: Outgoing) -> None:
        """Offer `event` to every matching client (never awaits)."""
        self.stats.events += 1
        name = event.name
        for client in self._clients:
            if client.filter.matches(name):
                client.offer(event)

    async def run(self) -> None:
        """Subscribe to `events:*` and fan out until cancelled; resubscribe after errors."""
        while True:
            try:
                async with self._bus.psubscribe(
                    EVENTS_PATTERN, maxsize=SUBSCRIPTION_QUEUE
                ) as subscription:
                    self.ready.set()
                    while True:
                        message = await subscription.get()
                        self.stats.bus_dropped = subscription.dropped
                        event = await self.to_outgoing(message)
                        if event is not None:
                            self.fan_out(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.ready.clear()
                logger.exception("Event broadcaster failed; resubscribing")
                await asyncio.sleep(BROADCAST_ERROR_PAUSE_S)

    async def to_outgoing(self, message: Message) -> Outgoing | None:
        """The envelope of a bus message; raw messages are wrapped (see the module docstring)."""
        name = message.channel.removeprefix(_CHANNEL_PREFIX)
        text = message.data
        if text.startswith('{"event":'):
            envelope = _as_envelope(text)
            if envelope is not None:
                observe_latency("emit_to_fanout", envelope.get("ts"))
                return Outgoing.build(envelope["event"], envelope["id"], text)
        return await self._wrap_raw(name, text)

    async def _wrap_raw(self, name: str, text: str) -> Outgoing | None:
        try:
            data_json = encode_data(json.loads(text))
        except (ValueError, EventDataError):
            data_json = json.dumps(text, ensure_ascii=False)
        ts = now_iso()
        try:
            event_id = await self._bus.append(
                EVENTS_LOG_STREAM,
                {"event": name, "data": data_json, "ts": ts},
                self.retention_count,
            )
        except BusError as error:
            logger.warning("Dropped raw event %s: cannot give it an id (%s)", name, error)
            return None
        self.stats.raw_wrapped += 1
        return Outgoing.build(name, event_id, envelope_text(name, data_json, event_id, ts))

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


def _as_envelope(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if (
        isinstance(value, dict)
        and value.keys() == _ENVELOPE_KEYS
        and isinstance(value["id"], str)
        and isinstance(value["event"], str)
    ):
        return value
    return None
