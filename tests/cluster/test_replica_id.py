"""`claim_replica_id`: a free id is taken as is, a live replica's id is refused (explicit) or
suffixed (default), and a dead predecessor's identity lease is waited out and reused."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from bus import Bus
from cluster import Lease, LeaseKeeper, ReplicaIdInUse, ReplicaRegistry, claim_replica_id
from cluster.replicas import REGISTRY_KEY, identity_key

TTL = 1.0


async def nothing(*_: object) -> None:
    return None


@asynccontextmanager
async def live_replica(bus: Bus, replica_id: str, *, beating: bool = True) -> AsyncIterator[None]:
    """A running replica as `ClusterNode.follow` runs it: its identity lease kept by a
    LeaseKeeper and (unless `beating` is False: still starting) its heartbeat."""
    keeper = LeaseKeeper(
        Lease(bus, identity_key(replica_id), f"{replica_id}#live01", TTL),
        nothing,
        nothing,
        what="identity",
    )
    registry = ReplicaRegistry(bus, replica_id, "10.0.0.1:8000", lambda: {})
    # As open_cluster_node does: claim first, then keep the lease and beat.
    assert await claim_replica_id(bus, replica_id, "live01", TTL, explicit=True) == replica_id
    tasks = [asyncio.create_task(keeper.run())]
    if beating:
        tasks.append(asyncio.create_task(registry.run()))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_free_id_is_taken_as_is(bus: Bus) -> None:
    assert await claim_replica_id(bus, "host:8000", "abcdef123456", TTL, explicit=False) == (
        "host:8000"
    )
    holder = await bus.lease_holder(identity_key("host:8000"))
    assert holder is not None and holder[0] == "host:8000#abcdef123456"


async def test_explicit_id_of_a_live_replica_is_refused(bus: Bus) -> None:
    async with live_replica(bus, "worker-1"):
        holder_before = await bus.lease_holder(identity_key("worker-1"))
        with pytest.raises(ReplicaIdInUse) as refused:
            await claim_replica_id(bus, "worker-1", "new999", TTL, explicit=True)
        message = str(refused.value)
        assert "STREAMCORE_REPLICA_ID=worker-1" in message
        assert "in use" in message
        # The live replica keeps its id: same holder, same token.
        assert await bus.lease_holder(identity_key("worker-1")) == holder_before


async def test_default_id_of_a_live_replica_gets_a_suffix(bus: Bus) -> None:
    async with live_replica(bus, "host:8000"):
        got = await claim_replica_id(bus, "host:8000", "new999abcdef", TTL, explicit=False)
        assert got == "host:8000~new999"
        suffixed = await bus.lease_holder(identity_key(got))
        assert suffixed is not None and suffixed[0] == f"{got}#new999abcdef"
        # The live replica keeps its own id.
        holder = await bus.lease_holder(identity_key("host:8000"))
        assert holder is not None and holder[0] == "host:8000#live01"


async def test_live_replica_not_beating_yet_is_still_refused(bus: Bus) -> None:
    # Between claiming its id and its first heartbeat a replica has no registry entry: its
    # lease, kept alive, must still protect the id.
    async with live_replica(bus, "worker-1", beating=False):
        with pytest.raises(ReplicaIdInUse):
            await claim_replica_id(bus, "worker-1", "new999", TTL, explicit=True)


async def test_dead_predecessors_lease_is_waited_out(bus: Bus) -> None:
    # The previous run died without releasing; its heartbeat is long gone.
    await bus.hold_lease(identity_key("worker-1"), "worker-1#dead00", int(TTL * 1000))
    await bus.put_field(
        REGISTRY_KEY,
        "worker-1",
        json.dumps({"id": "worker-1", "last_seen": time.time() - 60, "holds": {}}),
    )
    started = time.monotonic()
    got = await claim_replica_id(bus, "worker-1", "new999", TTL, explicit=True)
    assert got == "worker-1"
    assert time.monotonic() - started >= TTL - 0.3  # it did wait for the old lease
    holder = await bus.lease_holder(identity_key("worker-1"))
    assert holder is not None and holder[0] == "worker-1#new999"


async def test_dead_predecessor_without_registry_entry_is_waited_out(bus: Bus) -> None:
    await bus.hold_lease(identity_key("host:8000"), "host:8000#dead00", int(TTL * 1000))
    got = await claim_replica_id(bus, "host:8000", "new999", TTL, explicit=False)
    assert got == "host:8000"


async def test_predecessor_that_died_just_after_its_last_beat_is_waited_out(bus: Bus) -> None:
    # `kill -9` then an immediate restart (systemd, Docker restart policy): the dead run's
    # heartbeat is still fresh, but it never beats again. The restarted replica must resume
    # its id once the old lease expires, not be refused or renamed.
    await bus.hold_lease(identity_key("worker-1"), "worker-1#dead00", int(TTL * 1000))
    await bus.put_field(
        REGISTRY_KEY,
        "worker-1",
        json.dumps({"id": "worker-1", "last_seen": time.time(), "holds": {}}),
    )
    assert await claim_replica_id(bus, "worker-1", "new999", TTL, explicit=True) == "worker-1"
    await bus.hold_lease(identity_key("host:8000"), "host:8000#dead00", int(TTL * 1000))
    await bus.put_field(
        REGISTRY_KEY,
        "host:8000",
        json.dumps({"id": "host:8000", "last_seen": time.time(), "holds": {}}),
    )
    assert await claim_replica_id(bus, "host:8000", "new999", TTL, explicit=False) == "host:8000"


async def test_own_previous_incarnation_is_not_the_same_holder(bus: Bus) -> None:
    # Same id, same incarnation string (a replica re-claiming within one run) renews.
    assert await claim_replica_id(bus, "w", "inc1", TTL, explicit=True) == "w"
    assert await claim_replica_id(bus, "w", "inc1", TTL, explicit=True) == "w"
