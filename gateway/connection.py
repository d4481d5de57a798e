"""The thin socket layer: open an EventSub WebSocket and pump its frames into one queue.

Every socket of the gateway (the primary and, during a reconnect, its successor) feeds the same
bounded queue, so one loop sees frames in arrival order. Queue policy when full: the pump waits,
which stops reading that socket (TCP pushes back to Twitch); nothing is dropped here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

logger = logging.getLogger("streamcore.gateway")

#: Frames read ahead of the hand-off. Small: a frame in this queue is held only in memory.
FRAME_QUEUE_SIZE = 64


@dataclass(frozen=True, slots=True)
class Frame:
    socket_id: int
    text: str | bytes


@dataclass(frozen=True, slots=True)
class Closed:
    socket_id: int
    code: int | None
    detail: str


class Socket:
    """One open WebSocket; `pump` forwards its frames, then one `Closed`."""

    def __init__(self, socket_id: int, connection: ClientConnection) -> None:
        self.id = socket_id
        self._connection = connection

    async def pump(self, put: Callable[[Frame | Closed], Awaitable[None]]) -> None:
        """Forward every frame through `put` (the session's bounded queue), then `Closed`."""
        code: int | None = None
        detail = "closed"
        try:
            async for text in self._connection:
                await put(Frame(self.id, text))
        except ConnectionClosed as closed:
            if closed.rcvd is not None:
                code, detail = closed.rcvd.code, closed.rcvd.reason
            elif closed.sent is not None:
                code, detail = closed.sent.code, closed.sent.reason
        else:
            rcvd = self._connection.close_code
            code, detail = rcvd, self._connection.close_reason or "closed"
        await put(Closed(self.id, code, detail))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close politely (a Close frame is allowed: it is not a data frame)."""
        with suppress(Exception):
            await self._connection.close(code, reason)


async def open_socket(
    socket_id: int, url: str, max_frame_bytes: int, open_timeout_s: float
) -> Socket:
    """Connect; raises OSError, TimeoutError or a websockets error when it fails."""
    connection = await connect(
        url,
        max_size=max_frame_bytes,
        open_timeout=open_timeout_s,
        # Twitch pings us and websockets answers; sending our own Pings is not allowed (only
        # Pongs may go out), and the keepalive watchdog detects dead links instead.
        ping_interval=None,
        compression=None,
        close_timeout=2,
        max_queue=FRAME_QUEUE_SIZE,
    )
    return Socket(socket_id, connection)


@dataclass
class Opened:
    """The outcome of opening a socket: the socket, or why it could not be opened."""

    socket: Socket | None
    error: str = ""


async def open_or_error(
    socket_id: int, url: str, max_frame_bytes: int, open_timeout_s: float
) -> Opened:
    """Open a socket; a failure is an `Opened` with the reason, never an exception.

    Cancelled mid-handshake (the gateway stopped), a socket that opens anyway is still closed,
    or Twitch keeps a session nobody reads (and a test server waits for it forever).
    """
    attempt = asyncio.ensure_future(open_socket(socket_id, url, max_frame_bytes, open_timeout_s))
    try:
        sock = await asyncio.shield(attempt)
    except asyncio.CancelledError:
        attempt.add_done_callback(_close_abandoned)
        raise
    except Exception as error:  # OSError, TimeoutError, InvalidHandshake, InvalidURI...
        return Opened(None, f"{type(error).__name__}: {error}")
    return Opened(sock)


def _close_abandoned(attempt: asyncio.Future[Socket]) -> None:
    if attempt.cancelled() or attempt.exception() is not None:
        return
    # The loop is running (this is a done callback); the close is bounded by close_timeout.
    closing = asyncio.ensure_future(attempt.result().close(1000, "gateway stopped"))
    _ABANDONED.add(closing)
    closing.add_done_callback(_ABANDONED.discard)


#: Closes of sockets that finished opening after their session was cancelled (kept referenced
#: until done so they are not garbage-collected mid-close).
_ABANDONED: set[asyncio.Future[None]] = set()
