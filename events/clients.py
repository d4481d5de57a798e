"""One connected client of `/ws/events`: its filter, its bounded outbox, and how it is written.

Delivery policy (the fairness guarantee):
- The broadcaster hands each matching event to `Client.offer`, which never awaits. When the
  client's socket has room (under SOCKET_HIGH_WATER_BYTES unsent) and nothing is queued, the
  pre-built frame is written at once; otherwise the event joins the client's outbox.
- The outbox is bounded by WS_CLIENT_BUFFER messages and WS_CLIENT_BUFFER_BYTES bytes. When a
  new event would exceed either, the client is too slow: its outbox is dropped (memory freed at
  once) and it is closed with 4008 "too slow" and a reason. Nothing waits on a slow client, so
  it never delays the others; at most cap + 64 KiB of memory is held for it, for at most
  CLOSE_TIMEOUT_S after the close.
- A per-client flusher task exists only while the outbox is not empty.

Two sinks write frames. `TransportSink` writes the shared frame bytes straight to the server's
transport (uvicorn's WebSocket protocols expose it), skipping the per-client ASGI send path and
its re-encoding; `AsgiSink` is the portable fallback for any other ASGI server, sending the
shared text through `websocket.send_text`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from starlette.websockets import WebSocket

from events.constants import (
    CLOSE_TOO_SLOW,
    DRAIN_POLL_S,
    SOCKET_HIGH_WATER_BYTES,
    SOCKET_SEND_BUFFER_BYTES,
)
from events.frames import Outgoing
from events.replay import LiveHold

__all__ = ["AsgiSink", "Client", "Matcher", "Sink", "TransportSink", "make_sink"]

logger = logging.getLogger("streamcore.events")
_TRANSPORT_METHODS = ("write", "get_write_buffer_size", "is_closing", "abort")


class Matcher(Protocol):
    def matches(self, name: str) -> bool: ...


class Sink(Protocol):
    """Where a client's frames go."""

    def try_write(self, event: Outgoing) -> bool:
        """Write at once when it fits under the high-water mark; False when it would wait."""

    async def send(self, event: Outgoing) -> None:
        """Write, waiting for room first."""

    def abort(self) -> None:
        """Drop the connection without a closing handshake."""


class TransportSink:
    """Writes pre-built frames to the server protocol's transport."""

    __slots__ = ("_protocol", "transport")

    def __init__(self, protocol: Any, transport: Any) -> None:
        self._protocol = protocol
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_SEND_BUFFER_BYTES)

    def try_write(self, event: Outgoing) -> bool:
        # The fan-out's per-client step: one call, the shared frame bytes, no copy.
        transport = self.transport
        if transport.get_write_buffer_size() < SOCKET_HIGH_WATER_BYTES and not (
            transport.is_closing()
        ):
            transport.write(event.frame)
            return True
        return False

    async def send(self, event: Outgoing) -> None:
        while not self.try_write(event):
            if self.transport.is_closing():
                raise ConnectionError("the client is gone")
            writable = getattr(self._protocol, "writable", None)
            if isinstance(writable, asyncio.Event) and not writable.is_set():
                await writable.wait()
            else:
                await asyncio.sleep(DRAIN_POLL_S)

    def abort(self) -> None:
        self.transport.abort()


class AsgiSink:
    """Sends through the ASGI `websocket.send` path (any ASGI server)."""

    __slots__ = ("_websocket",)

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    def try_write(self, event: Outgoing) -> bool:
        return False  # ASGI sends are awaited: everything goes through `send`

    async def send(self, event: Outgoing) -> None:
        await self._websocket.send_text(event.text)

    def abort(self) -> None:
        return None


def server_protocol(websocket: WebSocket) -> Any | None:
    """uvicorn's per-connection protocol object, when the server is uvicorn.

    Starlette passes uvicorn's `receive` (a bound method of the protocol) through unchanged;
    the protocol owns the transport. Any other server returns None and gets the ASGI sink.
    """
    receive = getattr(websocket, "_receive", None)
    protocol = getattr(receive, "__self__", None)
    transport = getattr(protocol, "transport", None)
    # Duck-typed: uvloop's transports implement the interface without subclassing asyncio's.
    if all(hasattr(transport, name) for name in _TRANSPORT_METHODS):
        return protocol
    return None


def make_sink(websocket: WebSocket) -> Sink:
    protocol = server_protocol(websocket)
    if protocol is not None:
        return TransportSink(protocol, protocol.transport)
    return AsgiSink(websocket)


class Client:
    """A subscriber of the fan-out: filter, bounded outbox, close request."""

    __slots__ = (
        "_flusher",
        "all_events",
        "channels",
        "close_request",
        "closing",
        "delivered",
        "filter",
        "floor",
        "held",
        "key_id",
        "label",
        "max_bytes",
        "max_messages",
        "on_too_slow",
        "outbox",
        "outbox_bytes",
        "sink",
    )

    def __init__(
        self,
        sink: Sink,
        event_filter: Matcher,
        max_messages: int,
        max_bytes: int,
        label: str = "client",
        replaying: bool = False,
        on_too_slow: Callable[[Client], None] | None = None,
        channels: frozenset[str] | None = None,
    ) -> None:
        self.sink = sink
        self.filter = event_filter
        #: No event-name filter: the fan-out skips asking it (a call per delivery saved).
        self.all_events = bool(getattr(event_filter, "is_everything", False))
        #: The ids of the channels whose events it gets (None: every channel's); events of no
        #: channel (system events) reach it whatever this is.
        self.channels = channels
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.label = label
        #: The client key it connected with (None without one); a revocation closes it.
        self.key_id: str | None = None
        self.on_too_slow = on_too_slow
        # Created on first use: most clients never queue, and an empty deque costs ~760 bytes.
        self.outbox: deque[Outgoing] | None = None
        self.outbox_bytes = 0
        self.held: LiveHold | None = LiveHold(max_messages) if replaying else None
        #: After a replay, the last replayed id: the tail may still be behind it (it reads in
        #: batches), and what it fans out up to there was replayed already. Cleared at the
        #: first newer event (the tail is ordered).
        self.floor: tuple[int, int] | None = None
        self.delivered = 0
        self.closing = False
        self._flusher: asyncio.Task[None] | None = None
        #: Resolved with (code, reason) when the connection must end; code None = peer gone.
        self.close_request: asyncio.Future[tuple[int | None, str]] = (
            asyncio.get_running_loop().create_future()
        )

    def accepts(self, event: Outgoing) -> bool:
        """Its filters take `event` (the broadcaster's index applies the channel live)."""
        channel = event.channel
        if channel is not None and self.channels is not None and channel not in self.channels:
            return False
        return self.filter.matches(event.name)

    # -- called by the broadcaster, never awaits --------------------------------------------

    def offer(self, event: Outgoing) -> None:
        """Deliver `event` now, or queue it, or drop this client if it is too slow."""
        if self.closing:
            return
        if self.held is not None:
            if not self.held.add(event):
                self._too_slow(f"more than {self.max_messages} events arrived during replay")
            return
        if self.floor is not None:
            if event.id is not None and event.key <= self.floor:
                return  # replayed already
            self.floor = None
        if not self.outbox and self.sink.try_write(event):
            self.delivered += 1
            return
        self._enqueue(event)

    def _enqueue(self, event: Outgoing) -> None:
        outbox = self.outbox
        if outbox is None:
            outbox = self.outbox = deque()
        outbox.append(event)
        self.outbox_bytes += event.size
        if len(outbox) > self.max_messages:
            self._too_slow(f"more than {self.max_messages} events waiting")
        elif self.outbox_bytes > self.max_bytes:
            self._too_slow(f"more than {self.max_bytes} bytes waiting")
        elif self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self.outbox and not self.closing:
                event = self.outbox[0]
                await self.sink.send(event)
                if self.outbox and self.outbox[0] is event:
                    self.outbox.popleft()
                    self.outbox_bytes -= event.size
                    self.delivered += 1
        except (ConnectionError, RuntimeError, OSError):
            self.request_close(None, "connection lost")
        finally:
            self._flusher = None

    def _too_slow(self, why: str) -> None:
        self.outbox = None
        self.outbox_bytes = 0
        self.held = None
        reason = f"too slow: {why}; read faster or narrow ?events="
        self.request_close(CLOSE_TOO_SLOW, reason)
        if self.on_too_slow is not None:
            self.on_too_slow(self)

    # -- replay -----------------------------------------------------------------------------

    async def send_now(self, event: Outgoing) -> None:
        """Send one event with flow control (replay); only while live events are held."""
        await self.sink.send(event)
        self.delivered += 1

    def go_live(self, last_replayed: tuple[int, int]) -> None:
        """Release the held live events newer than the replay and deliver from now on."""
        hold, self.held = self.held, None
        if hold is None:
            return
        self.floor = last_replayed
        for event in hold.release(last_replayed):
            self.offer(event)

    # -- ending -------------------------------------------------------------------------------

    def request_close(self, code: int | None, reason: str) -> None:
        """Ask the connection's handler to close with `code` (None: the peer is already gone)."""
        self.closing = True
        if not self.close_request.done():
            self.close_request.set_result((code, reason))

    async def stop(self) -> None:
        """Cancel the flusher (called by the handler once the client is unregistered)."""
        self.closing = True
        flusher = self._flusher
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
