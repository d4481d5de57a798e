"""The cluster package's errors: one root, each message naming the problem and the fix."""

from __future__ import annotations

from core.errors import StreamCoreError


class ClusterError(StreamCoreError):
    """Root of the cluster package's errors."""


class ReplicaIdInUse(ClusterError):
    """STREAMCORE_REPLICA_ID is held by another live process."""


class DataDirInUse(ClusterError):
    """Another process runs on the same embedded data dir."""
