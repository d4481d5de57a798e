"""The message bus: one interface (`bus.base.Bus`), one backend per file, chosen by REDIS_URL."""

from __future__ import annotations

from bus.base import Bus, ConsumerInfo, GroupInfo, Message, StreamEntry, Subscription
from bus.errors import BusError, BusUnavailable

__all__ = [
    "Bus",
    "BusError",
    "BusUnavailable",
    "ConsumerInfo",
    "GroupInfo",
    "Message",
    "StreamEntry",
    "Subscription",
    "create_bus",
]


def create_bus(redis_url: str | None, max_connections: int = 100) -> Bus:
    """The Redis bus when a URL is given, otherwise the in-process one.

    Each backend is imported only when chosen, so the embedded default never loads redis-py.
    """
    if redis_url:
        from bus.redis import RedisBus

        return RedisBus(redis_url, max_connections)
    from bus.memory import MemoryBus

    return MemoryBus()
