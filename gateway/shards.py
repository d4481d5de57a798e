"""The conduit transport's replica half: this replica's shards, one WebSocket session each.

Every running replica claims shards of the stored conduit with Redis leases, up to its fair
share (shards / live replicas, rounded up), and runs one gateway session per shard. On each
welcome the session is assigned to its shard with `PATCH /eventsub/conduits/shards`, well
inside Twitch's 10 s window, and the per-shard `errors` array is checked. When a replica dies
its shard leases expire and the others claim those shards within STREAMCORE_LEASE_S,
each assigning a fresh session; meanwhile Twitch retries every notification once on another
enabled shard, and the hand-off de-duplicates by message id, so nothing is lost or doubled.
https://dev.twitch.tv/docs/eventsub/handling-conduit-events/
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bus import Bus, BusError
from cluster import Lease
from core.errors import StreamCoreError
from core.timestamps import iso_utc
from db_infrastructure import Store
from gateway.conduit import stored_conduit
from gateway.constants import SHARD_DISABLED_CHANNEL
from gateway.coverage import Coverage
from gateway.loop_items import Spawn
from gateway.protocol import Revoked
from gateway.service import Gateway
from tokens.errors import TokenError
from tokens.helix import HelixClient

logger = logging.getLogger("streamcore.gateway")

#: A shard lease lasts this share of STREAMCORE_LEASE_S, so that a dead replica's shards run
#: elsewhere within STREAMCORE_LEASE_S: the lease running out, the claim (a pool step is a
#: fifth of the lease) and the new session's welcome and assignment all fit in it.
SHARD_LEASE_SHARE = 0.6
#: How often the local view of each shard lease is checked (acting stops when it expires).
WATCH_S = 0.1
#: How often a held shard's assignment is checked at Twitch (a shard Twitch disabled while
#: the socket still looked fine is re-assigned).
SHARD_CHECK_S = 10.0


class ShardUpkeep:
    """A shard session's upkeep: assign the session to the shard, and keep it assigned."""

    def __init__(
        self,
        app_helix: HelixClient,
        conduit_id: str,
        shard_id: str,
        revoked: Callable[[Revoked], Awaitable[None]],
        may_act: Callable[[], bool],
        shard_disabled: Callable[[dict[str, Any]], Awaitable[None]],
        coverage: Coverage,
        emit: Callable[[str, dict[str, Any]], Awaitable[None]],
    ) -> None:
        self._helix = app_helix
        self._coverage = coverage
        self._emit = emit
        self._on_shard_disabled = shard_disabled
        self.conduit_id = conduit_id
        self.shard_id = shard_id
        self._on_revoked = revoked
        self._may_act = may_act
        self.repairs = 0

    async def blocked(self) -> str | None:
        return None if self._may_act() else "the shard's lease is gone"

    async def subscribe(self, session_id: str) -> bool:
        if not self._may_act():
            return False
        body = {
            "conduit_id": self.conduit_id,
            "shards": [
                {
                    "id": self.shard_id,
                    "transport": {"method": "websocket", "session_id": session_id},
                }
            ],
        }
        try:
            response = await self._helix.request("PATCH", "eventsub/conduits/shards", json=body)
        except TokenError as error:
            logger.error("Could not assign shard %s: %s", self.shard_id, error)
            return False
        errors = response.json().get("errors") or []
        if errors:
            logger.error("Twitch refused shard %s: %s", self.shard_id, errors[0].get("message"))
            return False
        logger.info(
            "Shard %s of conduit %s: session %s", self.shard_id, self.conduit_id, session_id
        )
        return True

    async def announce_gap(self) -> None:
        """A shard whose previous session ended without a clean hand-over (its replica died,
        its socket dropped): Twitch retries on another shard what it knows it could not
        deliver, but what it had already written to the dead socket is gone. Say so."""
        now = time.time()
        since = await self._coverage.gap_since()
        await self._coverage.mark(now)
        if since is None or since >= now:
            return
        logger.warning("Shard %s was unattended for %.1f s", self.shard_id, now - since)
        await self._emit(
            "system.gateway",
            {
                "state": "gap",
                "reason": f"shard {self.shard_id} lost its session without a hand-over: "
                "notifications Twitch had already sent to it may be lost",
                "transport": "conduit",
                "shard": self.shard_id,
                "since": iso_utc(since),
                "until": iso_utc(now),
            },
        )

    async def keep_subscribed(self, session_id: str) -> None:
        while self._may_act():
            await asyncio.sleep(SHARD_CHECK_S)
            try:
                shard = await self._shard()
            except TokenError as error:
                logger.warning("Could not read shard %s: %s", self.shard_id, error)
                continue
            transport = (shard or {}).get("transport") or {}
            if shard is None or (
                shard.get("status") == "enabled" and transport.get("session_id") == session_id
            ):
                continue
            logger.warning(
                "Shard %s is %s at Twitch; assigning session %s again",
                self.shard_id,
                shard.get("status"),
                session_id,
            )
            if await self.subscribe(session_id):
                self.repairs += 1

    async def _shard(self) -> dict[str, Any] | None:
        cursor: str | None = None
        while True:
            params = [("conduit_id", self.conduit_id)] + ([("after", cursor)] if cursor else [])
            response = await self._helix.request("GET", "eventsub/conduits/shards", params=params)
            body = response.json()
            for shard in body.get("data") or []:
                if str(shard.get("id")) == self.shard_id:
                    return dict(shard)
            cursor = (body.get("pagination") or {}).get("cursor")
            if not cursor:
                return None

    async def revoked(self, action: Revoked) -> None:
        await self._on_revoked(action)

    def received(self, now: float, spawn: Spawn) -> None:
        if self._coverage.due(now):
            spawn(self._coverage.mark(now))

    def session_lost(self) -> None:
        return None

    async def stopped(self, requested: bool) -> None:
        # A clean give-back (close frame, every frame received appended; Twitch retries
        # elsewhere what it could not send) leaves no gap. A lost lease keeps the record, so
        # the next owner announces the gap.
        if requested:
            await self._coverage.clear()

    def subscriptions(self) -> list[dict[str, Any]]:
        return []

    async def shard_disabled(self, event: dict[str, Any]) -> None:
        await self._on_shard_disabled(event)


@dataclass
class HeldShard:
    lease: Lease
    gateway: Gateway
    task: asyncio.Task[None]


class ShardPool:
    """See the module docstring. `run()` until cancelled; every shard is released on exit."""

    def __init__(
        self,
        *,
        bus: Bus,
        store: Store,
        holder: str,
        ttl_s: float,
        replicas: Callable[[], Awaitable[int]],
        make_gateway: Callable[[str, str, Lease], Gateway],
    ) -> None:
        self._bus = bus
        self._store = store
        self._holder = holder
        self._ttl_s = ttl_s
        self._replicas = replicas
        self._make_gateway = make_gateway
        self.conduit_id: str | None = None
        self.held: dict[str, HeldShard] = {}
        #: Shards claimed, sessions replaced because Twitch disabled their shard, and shards
        #: whose lease was lost (Redis too slow or away).
        self.claims = 0
        self.replaced = 0
        self.lost = 0
        self._stopping: set[asyncio.Task[None]] = set()

    def moves(self) -> dict[str, int]:
        """How shards came and went on this replica (GET /system/status)."""
        return {"claimed": self.claims, "replaced": self.replaced, "lease_lost": self.lost}

    def status(self) -> dict[str, Any]:
        return {
            shard_id: {k: v for k, v in held.gateway.status().items() if k != "subscriptions"}
            for shard_id, held in sorted(self.held.items(), key=lambda item: int(item[0]))
        }

    async def shard_disabled(self, event: dict[str, Any]) -> None:
        """Pass Twitch's notification to every replica (only one shard session received it)."""
        try:
            await self._bus.publish(SHARD_DISABLED_CHANNEL, json.dumps(event))
        except BusError as error:
            logger.warning("Could not pass on a shard-disabled notification (%s)", error)

    async def _listen_for_disabled(self) -> None:
        while True:
            try:
                async with self._bus.psubscribe(SHARD_DISABLED_CHANNEL, maxsize=256) as feed:
                    while True:
                        message = await feed.get()
                        with contextlib.suppress(ValueError, TypeError, AttributeError):
                            await self._replace_if_mine(json.loads(message.data))
            except BusError:
                await asyncio.sleep(self._ttl_s / 5)

    async def _replace_if_mine(self, event: dict[str, Any]) -> None:
        """A shard this replica holds, disabled on the session it still runs: start over."""
        shard_id = str(event.get("shard_id"))
        held = self.held.get(shard_id)
        session_id = (event.get("transport") or {}).get("session_id")
        if held is None or event.get("conduit_id") != self.conduit_id:
            return
        if held.gateway.protocol.session_id != session_id:
            return  # already reconnecting, or on a newer session
        logger.warning(
            "Twitch disabled shard %s (%s); replacing its session", shard_id, event.get("status")
        )
        self.replaced += 1
        await self._drop(shard_id)  # released: claimed again (here or elsewhere) at once

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen_for_disabled(), name="gateway.shards.disabled")
        watcher = asyncio.create_task(self._watch(), name="gateway.shards.watch")
        try:
            while True:
                try:
                    # Bounded: a paused Redis must not hold the pool (the watch acts anyway).
                    async with asyncio.timeout(self._ttl_s):
                        await self._step()
                except (BusError, StreamCoreError, TimeoutError) as error:
                    logger.warning("Shard pool: %s; retrying", error or "Redis is too slow")
                await asyncio.sleep(self._ttl_s / 5)
        finally:
            listener.cancel()
            watcher.cancel()
            await asyncio.gather(*(self._drop(shard_id) for shard_id in list(self.held)))

    async def _watch(self) -> None:
        """Stop acting on a shard the moment its lease's local view expires, whatever the
        pool's step is waiting for: another replica may take the shard right after."""
        while True:
            await asyncio.sleep(WATCH_S)
            for shard_id, held in list(self.held.items()):
                if not held.lease.held:
                    self._lose(shard_id)

    def _lose(self, shard_id: str) -> None:
        """The lease is gone: close the session now, in the background (Redis may be paused;
        the socket closes at once, the hand-off of what it received waits for Redis). The
        shard's coverage record stays, so whoever takes it announces the gap."""
        held = self.held.pop(shard_id, None)
        if held is None:
            return
        logger.warning("Lost the lease of shard %s; closing its session", shard_id)
        self.lost += 1
        stopping = asyncio.create_task(self._stop(held, clean=False))
        self._stopping.add(stopping)
        stopping.add_done_callback(self._stopping.discard)

    async def _step(self) -> None:
        conduit = await stored_conduit(self._store)
        if conduit is None or conduit["id"] != self.conduit_id:
            for shard_id in list(self.held):
                await self._drop(shard_id)
            self.conduit_id = None if conduit is None else conduit["id"]
        for shard_id, held in list(self.held.items()):
            if held.task.done():
                await self._drop(shard_id)
            elif not await self._renew(held.lease):
                self._lose(shard_id)
        if conduit is None:
            return
        count = conduit["shard_count"]
        for shard_id in [s for s in self.held if int(s) >= count]:
            await self._drop(shard_id)
        share = math.ceil(count / max(1, await self._replicas()))
        # Start from a place that depends on this replica, so replicas starting together
        # mostly try different shards first.
        offset = zlib.crc32(self._holder.encode()) % count
        for index in range(count):
            if len(self.held) >= share:
                break
            shard_id = str((offset + index) % count)
            if shard_id not in self.held:
                await self._claim(conduit["id"], shard_id)
        if len(self.held) > share:
            # A replica joined: give one shard back per round, so shards move one at a time.
            await self._drop(max(self.held, key=int))

    async def _renew(self, lease: Lease) -> bool:
        """Renewed, and still valid locally; a renewal that fails or comes too late loses it."""
        try:
            async with asyncio.timeout(max(0.05, lease.remaining_s())):
                held = await lease.try_hold()
        except (BusError, TimeoutError):
            return False
        return held and lease.held

    async def _claim(self, conduit_id: str, shard_id: str) -> None:
        lease = Lease(
            self._bus, f"streamcore:lease:shard:{conduit_id}:{shard_id}", self._holder, self._ttl_s
        )
        if not await lease.try_hold():
            return
        gateway = self._make_gateway(conduit_id, shard_id, lease)
        task = asyncio.create_task(gateway.run(), name=f"gateway.shard:{shard_id}")
        self.held[shard_id] = HeldShard(lease, gateway, task)
        self.claims += 1
        logger.info("Claimed shard %s of conduit %s", shard_id, conduit_id)

    async def _drop(self, shard_id: str) -> None:
        """Give the shard up cleanly: close frame, every frame received appended, lease freed
        for the next owner at once; no gap (Twitch retries elsewhere what it could not send)."""
        held = self.held.pop(shard_id, None)
        if held is None:
            return
        # Shielded: a step that times out must not leave a half-stopped session behind.
        await asyncio.shield(self._stop(held, clean=True))
        await held.lease.release()
        logger.info("Released shard %s", shard_id)

    async def _stop(self, held: HeldShard, *, clean: bool) -> None:
        await held.gateway.stop(requested=clean)
        held.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await held.task
