"""EventSub WebSocket sessions: what each socket has been told and what it must be sent next.

A Session is state only; `eventsub_ws` drains its outbox onto the socket. The outbox is
bounded: a client that lets OUTBOX_LIMIT messages pile up is treated as a broken network and
closed with 4006, the way a stuck TCP connection ends on Twitch.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections import deque
from dataclasses import dataclass, field

from simulator.wire import rfc3339_nano

#: Unsent messages a session may hold before it is closed with 4006 (see module docstring).
OUTBOX_LIMIT = 10_000
#: Notifications remembered per session for /control/duplicate.
RECENT_LIMIT = 100

#: Close code -> (reason sent in the close frame, status its subscriptions get).
CLOSE_CODES: dict[int, tuple[str, str]] = {
    4000: ("internal server error", "websocket_internal_error"),
    4001: ("sending outgoing messages is not allowed", "websocket_received_inbound_traffic"),
    4002: ("client failed ping-pong", "websocket_failed_ping_pong"),
    4003: ("connection unused", "websocket_connection_unused"),
    4004: ("reconnect grace time expired", "websocket_failed_to_reconnect"),
    4005: ("network timeout", "websocket_network_timeout"),
    4006: ("network error", "websocket_network_error"),
    4007: ("invalid reconnect", "websocket_failed_to_reconnect"),
}
#: The client closed the socket or the connection dropped.
DISCONNECTED_STATUS = "websocket_disconnected"


def new_session_id() -> str:
    """An opaque id like Twitch's (`AQoQ...`): base64url of random bytes, never parseable."""
    return base64.urlsafe_b64encode(b"\x01\x0a\x10" + secrets.token_bytes(21)).decode().rstrip("=")


@dataclass
class Session:
    """One EventSub WebSocket connection."""

    keepalive_timeout_s: int
    ws_base_url: str
    id: str = field(default_factory=new_session_id)
    connected_at: str = field(default_factory=rfc3339_nano)
    status: str = "connected"  # connected | reconnecting | closed
    keepalives_paused: bool = False
    silent: bool = False
    subscribe_deadline: float | None = None  # monotonic; None once a subscription exists
    last_sent: float = field(default_factory=time.monotonic)
    close_request: tuple[int, str] | None = None
    close_code: int | None = None
    disconnected_at: str | None = None
    reconnect_token: str | None = None
    successor_id: str | None = None
    #: Notifications sent after session_reconnect, replayed on the new socket (overlap).
    sent_while_reconnecting: list[str] = field(default_factory=list)
    recent: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=RECENT_LIMIT))
    outbox: deque[str] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def is_open(self) -> bool:
        return self.status != "closed"

    def send(self, text: str) -> bool:
        """Queue one message; False if the session is gone, silent or over its limit."""
        if not self.is_open or self.close_request is not None or self.silent:
            return False
        if len(self.outbox) >= OUTBOX_LIMIT:
            self.request_close(4006)
            return False
        self.outbox.append(text)
        self.wake.set()
        return True

    def send_notification(self, message_id: str, text: str) -> bool:
        sent = self.send(text)
        if sent:
            self.recent.append((message_id, text))
            if self.status == "reconnecting":
                self.sent_while_reconnecting.append(text)
        return sent

    def request_close(self, code: int, reason: str | None = None) -> None:
        """Ask the socket loop to close with `code`; pending messages are dropped."""
        if self.close_request is None:
            self.close_request = (code, reason or CLOSE_CODES.get(code, ("", ""))[0])
        self.wake.set()

    def poke(self) -> None:
        """Wake the socket loop so it re-reads its timers (pause/resume, silence)."""
        self.wake.set()

    def describe(self) -> dict[str, object]:
        return {
            "id": self.id,
            "status": self.status,
            "connected_at": self.connected_at,
            "disconnected_at": self.disconnected_at,
            "close_code": self.close_code,
            "keepalive_timeout_seconds": self.keepalive_timeout_s,
            "keepalives_paused": self.keepalives_paused,
            "silent": self.silent,
            "successor_id": self.successor_id,
        }
