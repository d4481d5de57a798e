"""Several StreamCore processes on one Redis: leases, the replica registry, the desired state.

The parts here are small and know no domain: `Lease`/`LeaseKeeper` (who may act, with a
fencing token), `ReplicaRegistry` (who is alive and what each one holds), `DesiredState`
(whether the system should run, stored in the database so restarts and Redis restarts keep
it) and `DataDirLock` (one process per embedded data dir). The composition root (`app/`)
decides what a replica does with them.
"""

from __future__ import annotations

from cluster.datadir import DataDirLock
from cluster.desired import DesiredState
from cluster.errors import ClusterError, DataDirInUse, ReplicaIdInUse
from cluster.lease import Lease, LeaseKeeper
from cluster.replicas import ReplicaRegistry, claim_replica_id

__all__ = [
    "ClusterError",
    "DataDirInUse",
    "DataDirLock",
    "DesiredState",
    "Lease",
    "LeaseKeeper",
    "ReplicaIdInUse",
    "ReplicaRegistry",
    "claim_replica_id",
]
