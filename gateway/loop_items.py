"""What the gateway's session loop reads and how a session ends (typed, for `match`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from gateway.connection import Closed, Frame, Opened
from gateway.protocol import CloseClass, Restart

__all__ = [
    "NothingSubscribed",
    "SessionEnd",
    "SessionItem",
    "SessionQueue",
    "Spawn",
    "WatchdogFired",
]


@dataclass(frozen=True)
class SessionEnd:
    """Why a session ended; `label` keys the reconnect counter."""

    reason: str
    label: str
    healthy: bool = False
    is_error: bool = False

    @classmethod
    def of(cls, restart: Restart, healthy: bool) -> SessionEnd:
        close: CloseClass | None = restart.close
        if close is None:
            return cls(restart.reason, "keepalive_timeout", healthy)
        return cls(restart.reason, close.label, healthy, close.is_error)


@dataclass(frozen=True)
class WatchdogFired:
    """The protocol's deadline passed; the loop asks it what to do."""


@dataclass(frozen=True)
class NothingSubscribed:
    """Reconciliation enabled no subscription: holding the socket would only earn a 4003."""


#: What the session's one loop reads, in arrival order: frames and closes from every socket,
#: a successor socket that finished opening, and the session's own timers and helpers.
SessionItem = Frame | Closed | Opened | WatchdogFired | NothingSubscribed
SessionQueue = asyncio.Queue[SessionItem]
#: Starts a helper task of the session (cancelled when the session ends).
Spawn = Callable[[Coroutine[Any, Any, None]], None]
