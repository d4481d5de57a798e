"""Whether the system should run, for the whole cluster.

`POST /system/start|stop` reach one replica; the wish is stored in the database (it outlives
restarts of any replica and of Redis) and announced on the bus so that every replica follows
at once; replicas also re-read it periodically, so a missed announcement only delays.
"""

from __future__ import annotations

import contextlib

from bus import Bus, BusUnavailable
from db_infrastructure import Store

NAMESPACE = "cluster"
KEY = "desired_state"
#: Bus channel announcing a change; the payload is the new state.
CHANNEL = "streamcore:cluster:desired"
RUNNING, STOPPED = "running", "stopped"


class DesiredState:
    def __init__(self, store: Store, bus: Bus) -> None:
        self._store = store
        self._bus = bus

    async def running(self) -> bool:
        """True when the system should run (never set: not running)."""
        return await self._store.get(NAMESPACE, KEY) == RUNNING

    async def set(self, running: bool) -> None:
        """Store the wish, then tell every replica (a replica that misses it reads it later)."""
        value = RUNNING if running else STOPPED
        await self._store.put(NAMESPACE, KEY, value)
        # When the announcement fails, replicas pick the wish up on their next periodic read.
        with contextlib.suppress(BusUnavailable):
            await self._bus.publish(CHANNEL, value)
