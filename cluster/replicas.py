"""Who is in the cluster: each replica's heartbeat in one Redis hash, and its unique id.

Every replica writes its entry (id, address, started, last seen, what it holds) every
`BEAT_S`; an entry not refreshed for `ALIVE_BEATS` beats is shown as gone, and removed after
`FORGET_S`. Wall-clock times are used because replicas run on different hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
import time
from collections.abc import Callable
from typing import Any

from bus import Bus, BusError
from cluster.errors import ReplicaIdInUse
from cluster.lease import stop_if_cancelled
from core.timestamps import iso_utc

logger = logging.getLogger("streamcore.cluster")

REGISTRY_KEY = "streamcore:cluster:replicas"
BEAT_S = 1.0
ALIVE_BEATS = 3
#: A gone replica's entry stays this long (visible as gone), then disappears.
FORGET_S = 600.0


def identity_key(replica_id: str) -> str:
    return f"streamcore:lease:replica:{replica_id}"


def new_incarnation() -> str:
    """Tells one run of a replica from the next (a restart keeps the id, not this)."""
    return secrets.token_hex(6)


async def claim_replica_id(
    bus: Bus, replica_id: str, incarnation: str, ttl_s: float, *, explicit: bool
) -> str:
    """Take the identity lease of `replica_id` and return the id this process runs as.

    A restarted replica finds its previous run's lease still held: it waits for it to expire
    (at most `ttl_s`), then resumes under the same id, so its consumers read their own pending
    entries at once. When a *live* process has the id (its heartbeat moves while we wait, or
    its lease is still renewed after `ttl_s`): an explicit STREAMCORE_REPLICA_ID is refused; a
    default id (host:port, the same for two `workers run` processes on one host) gets a suffix
    instead.
    """
    holder = f"{replica_id}#{incarnation}"
    deadline = time.monotonic() + ttl_s + 1.0
    # The holder is alive when its heartbeat moves while we wait. A fresh entry alone proves
    # nothing: a replica killed and restarted at once finds its dead run's last beat fresh.
    first_beat = await _last_beat(bus, replica_id)
    while True:
        if await bus.hold_lease(identity_key(replica_id), holder, int(ttl_s * 1000)):
            return replica_id
        beat = await _last_beat(bus, replica_id)
        alive = beat is not None and beat != first_beat
        if alive or time.monotonic() >= deadline:
            if explicit:
                raise ReplicaIdInUse(
                    f"STREAMCORE_REPLICA_ID={replica_id} is in use by another running "
                    "StreamCore: give each replica its own id (or leave it unset)"
                )
            suffixed = f"{replica_id}~{incarnation[:6]}"
            logger.info("Replica id %s is in use by a live process; using %s", replica_id, suffixed)
            return await claim_replica_id(bus, suffixed, incarnation, ttl_s, explicit=True)
        await asyncio.sleep(0.2)


async def _last_beat(bus: Bus, replica_id: str) -> float | None:
    """The `last_seen` of `replica_id`'s registry entry, None when it has none (or garbage)."""
    entry = (await bus.get_fields(REGISTRY_KEY)).get(replica_id)
    if entry is None:
        return None
    try:
        beat = float(json.loads(entry)["last_seen"])
    except (ValueError, KeyError, TypeError):
        return None
    return beat if math.isfinite(beat) else None


class ReplicaRegistry:
    """This replica's heartbeat and everyone's entries; `holds` returns what it holds now."""

    def __init__(
        self,
        bus: Bus,
        replica_id: str,
        address: str,
        holds: Callable[[], dict[str, Any]],
    ) -> None:
        self.replica_id = replica_id
        self._bus = bus
        self._address = address
        self._holds = holds
        self._started = time.time()
        self._failing = False

    def _entry(self) -> str:
        return json.dumps(
            {
                "id": self.replica_id,
                "address": self._address,
                "started": self._started,
                "last_seen": time.time(),
                "holds": self._holds(),
            }
        )

    async def beat(self) -> None:
        await self._bus.put_field(REGISTRY_KEY, self.replica_id, self._entry())

    async def run(self) -> None:
        """Beat every BEAT_S until cancelled; a failing Redis is logged once per outage."""
        while True:
            try:
                await self.beat()
                if self._failing:
                    logger.info("Replica heartbeat restored")
                self._failing = False
            except BusError as error:
                if not self._failing:
                    logger.warning("Replica heartbeat failed (%s); retrying", error)
                self._failing = True
            stop_if_cancelled()
            await asyncio.sleep(BEAT_S)

    async def leave(self) -> None:
        # When Redis is down, the entry shows as gone after ALIVE_BEATS beats, then goes.
        with contextlib.suppress(BusError):
            await self._bus.delete_field(REGISTRY_KEY, self.replica_id)

    async def members(self) -> list[dict[str, Any]]:
        """Every known replica, with `alive`; entries gone for FORGET_S are removed."""
        now = time.time()
        members: list[dict[str, Any]] = []
        for replica_id, raw in (await self._bus.get_fields(REGISTRY_KEY)).items():
            # Every field is read inside the `try`: an entry this version cannot read (garbage,
            # another version's shape) is dropped instead of failing the whole listing.
            try:
                entry = json.loads(raw)
                age = now - float(entry["last_seen"])
                member = {
                    "id": str(entry["id"]),
                    "address": entry.get("address"),
                    "started": iso_utc(entry.get("started")),
                    "last_seen": iso_utc(entry["last_seen"]),
                    "last_seen_age_s": round(age, 1),
                    "alive": age < BEAT_S * ALIVE_BEATS,
                    "self": replica_id == self.replica_id,
                    "holds": entry.get("holds") or {},
                }
            except (ValueError, KeyError, TypeError, AttributeError, OverflowError, OSError):
                await self._bus.delete_field(REGISTRY_KEY, replica_id)
                continue
            if age > FORGET_S:
                await self._bus.delete_field(REGISTRY_KEY, replica_id)
                continue
            members.append(member)
        return sorted(members, key=lambda m: m["id"])
