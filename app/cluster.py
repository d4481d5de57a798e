"""This replica's place in the cluster: its id, its heartbeat, the coordinator lease and the
stored desired state it follows.

Any number of `streamcore run` processes may share one Redis and one database. Each one runs
the workers (consumer groups split the events) and serves `/ws/events`; exactly one, the
coordinator, holds the EventSub session and reconciles subscriptions. The coordinator is
whoever holds the Redis lease `COORDINATOR_KEY`; when it dies, another replica takes the lease
within about STREAMCORE_LEASE_S and starts its own gateway. Whether the system runs at all is
the desired state (cluster.desired), which every replica follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from bus import Bus, BusError
from cluster import Lease, LeaseKeeper, ReplicaRegistry, claim_replica_id
from cluster.desired import CHANNEL as DESIRED_CHANNEL
from cluster.replicas import identity_key, new_incarnation
from core.settings import Settings
from core.tasks import TaskSupervisor

__all__ = ["COORDINATOR_KEY", "ClusterNode", "open_cluster_node"]

logger = logging.getLogger("streamcore.cluster")

COORDINATOR_KEY = "streamcore:lease:coordinator"
#: How often a replica re-reads the desired state besides the announcements on the bus.
DESIRED_POLL_S = 3.0


def default_replica_id(settings: Settings) -> str:
    return f"{socket.gethostname()}:{settings.streamcore_port}"


class ClusterNode:
    """See the module docstring. `follow(apply, holds)` starts the tasks; `apply` is called
    whenever this replica's role or the desired state may have changed."""

    def __init__(self, settings: Settings, bus: Bus, replica_id: str, incarnation: str) -> None:
        self.replica_id = replica_id
        self.address = f"{settings.streamcore_host}:{settings.streamcore_port}"
        self._bus = bus
        self._holder = f"{replica_id}#{incarnation}"
        ttl = settings.streamcore_lease_s
        self.coordinator = LeaseKeeper(
            Lease(bus, COORDINATOR_KEY, self._holder, ttl),
            self._role_changed,
            self._role_lost,
            what="coordinator",
        )
        self.identity = LeaseKeeper(
            Lease(bus, identity_key(replica_id), self._holder, ttl),
            _nothing_to_do,
            _nothing_to_do,
            what=f"holder of replica id {replica_id}",
        )
        self.registry: ReplicaRegistry | None = None
        self._changed = asyncio.Event()
        self._apply: Callable[[], Awaitable[None]] | None = None
        self._halt: Callable[[], Awaitable[None]] | None = None

    @property
    def is_coordinator(self) -> bool:
        """True only while the coordinator lease is held and locally still valid."""
        return self.coordinator.acting and self.coordinator.lease.held

    @property
    def holder(self) -> str:
        """This process's name on every lease it takes (replica id and incarnation)."""
        return self._holder

    async def live_replicas(self) -> int:
        """Replicas alive that run the EventSub parts (not `streamcore workers run`)."""
        if self.registry is None:
            return 1
        members = await self.registry.members()
        return sum(1 for m in members if m["alive"] and m["holds"].get("role") == "replica")

    @property
    def fencing_token(self) -> int | None:
        return self.coordinator.lease.token if self.is_coordinator else None

    def follow(
        self,
        tasks: TaskSupervisor,
        apply: Callable[[], Awaitable[None]],
        halt: Callable[[], Awaitable[None]],
        holds: Callable[[], dict[str, Any]],
        *,
        coordinate: bool = True,
    ) -> None:
        """Start the heartbeat, the leases and the desired-state follower. `coordinate=False`
        (a process that only runs workers): the identity and the heartbeat only."""
        self._apply, self._halt = apply, halt
        self.registry = ReplicaRegistry(self._bus, self.replica_id, self.address, holds)
        tasks.spawn("cluster.identity", self.identity.run())
        tasks.spawn("cluster.heartbeat", self.registry.run())
        if not coordinate:
            return
        tasks.spawn("cluster.coordinator", self.coordinator.run())
        tasks.spawn("cluster.desired", self._listen_for_desired())
        tasks.spawn("cluster.apply", self._applier())
        self._changed.set()

    async def leave(self) -> None:
        if self.registry is not None:
            await self.registry.leave()

    async def status(self) -> dict[str, Any]:
        holder = await self._bus.lease_holder(COORDINATOR_KEY)
        members = await self.registry.members() if self.registry is not None else []
        return {
            "replica_id": self.replica_id,
            "coordinator": None
            if holder is None
            else {"replica_id": holder[0].rsplit("#", 1)[0], "fencing_token": holder[1]},
            "is_coordinator": self.is_coordinator,
            "replicas": members,
        }

    async def _role_changed(self, _token: int) -> None:
        self._changed.set()

    async def _role_lost(self) -> None:
        # Stop acting now, not after whatever the applier is busy with.
        if self._halt is not None:
            await self._halt()
        self._changed.set()

    def desired_changed(self) -> None:
        self._changed.set()

    async def _applier(self) -> None:
        """Apply changes one at a time, so the lease keeper never waits for a slow start."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self._apply is not None:
                try:
                    await self._apply()
                except Exception:
                    logger.exception("Could not apply the cluster's desired state; retrying")
                    await asyncio.sleep(1.0)
                    self._changed.set()

    async def _listen_for_desired(self) -> None:
        """Apply at once on an announcement; re-read every DESIRED_POLL_S in case one was
        missed (Redis restarted, this replica was paused)."""
        while True:
            try:
                async with self._bus.psubscribe(DESIRED_CHANNEL, maxsize=16) as subscription:
                    while True:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(subscription.get(), DESIRED_POLL_S)
                        self._changed.set()
            except BusError as error:
                logger.debug("Desired-state announcements unavailable (%s)", error)
                self._changed.set()
                await asyncio.sleep(DESIRED_POLL_S)


async def _nothing_to_do(*_: Any) -> None:
    return None


async def open_cluster_node(settings: Settings, bus: Bus) -> ClusterNode:
    """Claim this replica's id (see `claim_replica_id`) and build its node (not started)."""
    incarnation = new_incarnation()
    explicit = bool(settings.streamcore_replica_id)
    wanted_id = settings.streamcore_replica_id or default_replica_id(settings)
    replica_id = await claim_replica_id(
        bus, wanted_id, incarnation, settings.streamcore_lease_s, explicit=explicit
    )
    return ClusterNode(settings, bus, replica_id, incarnation)
