"""The EventSub WebSocket protocol as a pure state machine: no sockets, no timers, no awaits.

`gateway.messages.parse_frame(text)` turns one frame into a typed message (Twitch's wire shape
is read there and nowhere else; re-exported here). `GatewayProtocol` holds the session state
across the one or two sockets a gateway has open and answers each input (a socket opened, a
frame, a socket closed, the time) with decisions (`Action`s) that the thin I/O layer in
`gateway.service` carries out:

    frame on the primary socket    -> Subscribe / Deliver / OpenSuccessor / Revoked / Drop
    welcome on the successor       -> CloseSocket(old primary), no re-subscribe
    close code or a quiet socket   -> Restart(reason): base URL, back off, re-subscribe

Twitch's rules behind those arrows: after `session_reconnect` the subscriptions move to the new
socket on their own, so the old socket is closed once the new one is welcomed; a lost
connection (any close code, or silence longer than the keepalive timeout) disables every
subscription on it, so the client starts again at the base URL and subscribes again. Twitch
describes them in https://dev.twitch.tv/docs/eventsub/handling-websocket-events/ ; the
"EventSub over WebSocket" section of docs/twitch-protocol.md sums them up.

The clock is always passed in (`now` is monotonic seconds, `wall_now` Unix seconds), so every
rule is testable without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from core.constants import MAX_MESSAGE_AGE_S
from gateway.errors import MalformedFrame
from gateway.messages import (
    MAX_CLOCK_SKEW_S,
    Keepalive,
    Message,
    Notification,
    Reconnect,
    Revocation,
    UnknownMessage,
    Welcome,
    is_from_the_future,
    is_stale,
    parse_frame,
    parse_timestamp,
)

__all__ = [
    "Action",
    "CloseClass",
    "CloseSocket",
    "Deliver",
    "Drop",
    "GatewayProtocol",
    "Keepalive",
    "Message",
    "Notification",
    "OpenSuccessor",
    "Reconnect",
    "Restart",
    "Revocation",
    "Revoked",
    "Subscribe",
    "UnknownMessage",
    "Welcome",
    "Welcomed",
    "classify_close",
    "is_from_the_future",
    "is_stale",
    "parse_frame",
    "parse_timestamp",
]

#: Added to keepalive_timeout_seconds before a quiet socket counts as dead: Twitch sends the
#: keepalive right at the timeout, and the network adds jitter, so allow a few seconds. Twitch's
#: rule (no message for longer than the timeout means the connection is gone):
#: https://dev.twitch.tv/docs/eventsub/handling-websocket-events/#keepalive-message
DEFAULT_KEEPALIVE_MARGIN_S = 3.0
#: How long a fresh socket may take to deliver its welcome before we give up on it.
DEFAULT_WELCOME_TIMEOUT_S = 15.0

# -- close codes ---------------------------------------------------------------------------------

CloseKind = Literal["transient", "client_error", "unused", "reconnect_failed", "network"]


@dataclass(frozen=True, slots=True)
class CloseClass:
    """What a close means. Every kind reconnects to the base URL and re-subscribes (after a
    back-off); `client_error` and `unused` are logged as errors because our side caused them."""

    kind: CloseKind
    cause: str
    code: int | None = None

    @property
    def is_error(self) -> bool:
        return self.kind in ("client_error", "unused")

    @property
    def label(self) -> str:
        """A short name for counters: `close_4000` ... `close_4007`, or `network`."""
        return f"close_{self.code}" if self.code in _CLOSE_CODES else "network"


_CLOSE_CODES: dict[int, CloseClass] = {
    4000: CloseClass("transient", "Twitch internal server error (4000)"),
    4001: CloseClass(
        "client_error", "the client sent inbound traffic (4001); only Pongs are allowed"
    ),
    4002: CloseClass("client_error", "the client failed ping-pong (4002); Pings went unanswered"),
    4003: CloseClass("unused", "connection unused (4003): no subscription within the deadline"),
    4004: CloseClass("reconnect_failed", "reconnect grace time expired (4004)"),
    4005: CloseClass("transient", "Twitch network timeout (4005)"),
    4006: CloseClass("transient", "Twitch network error (4006)"),
    4007: CloseClass("reconnect_failed", "invalid reconnect URL (4007)"),
}


def classify_close(code: int | None) -> CloseClass:
    """The meaning of a close code; anything else is a plain network loss.

    Twitch's codes 4000-4007 and their causes are listed under "Close message" in
    https://dev.twitch.tv/docs/eventsub/handling-websocket-events/
    """
    if code is not None and code in _CLOSE_CODES:
        return replace(_CLOSE_CODES[code], code=code)
    if code == 1009:
        return CloseClass("network", "a frame exceeded the maximum frame size (1009)")
    return CloseClass("network", f"connection lost (close code {code})")


# -- decisions -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deliver:
    """Hand the notification off (dedupe + durable append) before the next frame."""

    notification: Notification


@dataclass(frozen=True, slots=True)
class Subscribe:
    """A fresh session on the base URL: create every wanted subscription for it now."""

    session_id: str


@dataclass(frozen=True, slots=True)
class Welcomed:
    """A socket received its welcome; `resubscribe` is False after a session_reconnect."""

    session_id: str
    resubscribe: bool


@dataclass(frozen=True, slots=True)
class OpenSuccessor:
    """session_reconnect: open `url` now, keep reading the old socket meanwhile.

    Twitch keeps delivering on the old socket until the new one has its welcome, and closes
    it with 4004 if the client has not moved within 30 s:
    https://dev.twitch.tv/docs/eventsub/handling-websocket-events/#reconnect-message
    """

    url: str


@dataclass(frozen=True, slots=True)
class CloseSocket:
    socket_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Restart:
    """Close every socket, back off, reconnect to the base URL and re-subscribe."""

    reason: str
    close: CloseClass | None = None


@dataclass(frozen=True, slots=True)
class Revoked:
    subscription: dict[str, Any]
    status: str


@dataclass(frozen=True, slots=True)
class Drop:
    """A message we do not hand off: `why` is stale, future (timestamped ahead of our clock
    beyond the allowed skew), malformed or unknown."""

    why: Literal["stale", "future", "malformed", "unknown"]
    subscription_type: str
    detail: str

    @property
    def label(self) -> str:
        """The counter (and metrics) label: the subscription type of a notification, which
        `parse_frame` validated (a short EventSub type name), else the fixed `why`. Never
        free text from the frame, so the labels stay few and short."""
        return self.subscription_type or self.why


Action = Deliver | Subscribe | Welcomed | OpenSuccessor | CloseSocket | Restart | Revoked | Drop


# -- the session state machine -------------------------------------------------------------------


def _clip(text: str, limit: int = 80) -> str:
    """Frame text for a log line: only its start, however long the frame made it."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


@dataclass
class _Socket:
    id: int
    opened_at: float
    successor: bool
    session_id: str | None = None


@dataclass
class GatewayProtocol:
    """Session state across the primary socket and, during a reconnect, its successor."""

    keepalive_margin_s: float = DEFAULT_KEEPALIVE_MARGIN_S
    welcome_timeout_s: float = DEFAULT_WELCOME_TIMEOUT_S
    max_message_age_s: float = MAX_MESSAGE_AGE_S
    max_clock_skew_s: float = MAX_CLOCK_SKEW_S
    #: Twitch's default keepalive timeout (10 s), used when the welcome does not give one:
    #: https://dev.twitch.tv/docs/eventsub/handling-websocket-events/#welcome-message
    keepalive_timeout_s: int = 10
    session_id: str | None = None
    #: Wall-clock time of the current session's first welcome (kept across reconnects).
    connected_since: float | None = None
    last_message_at: float | None = None
    primary: _Socket | None = None
    successor: _Socket | None = None
    _closing: set[int] = field(default_factory=set)

    @property
    def state(self) -> Literal["disconnected", "connecting", "connected", "reconnecting"]:
        if self.primary is None and self.successor is None:
            return "disconnected"
        if self.successor is not None:
            return "reconnecting"
        assert self.primary is not None
        return "connected" if self.primary.session_id else "connecting"

    def socket_opened(self, socket_id: int, now: float) -> None:
        """A socket to the base URL (or, after OpenSuccessor, to reconnect_url) is open."""
        sock = _Socket(socket_id, now, successor=self.primary is not None)
        if sock.successor:
            self.successor = sock
        else:
            self.primary = sock
            self.session_id = None
            self.connected_since = None
        self.last_message_at = now if self.last_message_at is None else self.last_message_at

    def reset(self) -> None:
        """Forget every socket (after a Restart was carried out)."""
        self.primary = self.successor = None
        self.session_id = self.connected_since = self.last_message_at = None
        self._closing.clear()

    def _known(self, socket_id: int) -> _Socket | None:
        for sock in (self.primary, self.successor):
            if sock is not None and sock.id == socket_id:
                return sock
        return None

    def receive(
        self, socket_id: int, text: str | bytes, now: float, wall_now: float
    ) -> list[Action]:
        """One frame from a socket -> what to do. Frames of sockets we let go are ignored."""
        sock = self._known(socket_id)
        if sock is None:
            return []
        self.last_message_at = now  # any message, from either socket, proves the link alive
        try:
            message = parse_frame(text)
        except MalformedFrame as error:
            return [Drop("malformed", "", str(error))]
        if isinstance(message, Notification):
            if is_stale(message.timestamp, wall_now, self.max_message_age_s):
                return [Drop("stale", message.subscription_type, _clip(message.message_id))]
            if is_from_the_future(message.timestamp, wall_now, self.max_clock_skew_s):
                detail = (
                    f"{_clip(message.message_id)} (timestamp {message.timestamp}, more than "
                    f"{self.max_clock_skew_s:g} s ahead of this clock)"
                )
                return [Drop("future", message.subscription_type, detail)]
            return [Deliver(message)]
        if isinstance(message, Keepalive):
            return []
        if isinstance(message, Welcome):
            return self._welcome(sock, message, wall_now)
        if isinstance(message, Reconnect):
            if sock is not self.primary or self.successor is not None:
                return []  # already moving; one successor at a time
            if not message.reconnect_url:
                return [Restart("session_reconnect carried no reconnect_url")]
            return [OpenSuccessor(message.reconnect_url)]
        if isinstance(message, Revocation):
            return [Revoked(message.subscription, message.status)]
        return [Drop("unknown", "", _clip(message.message_type))]

    def _welcome(self, sock: _Socket, message: Welcome, wall_now: float) -> list[Action]:
        if sock.session_id is not None:
            return [Drop("malformed", "", "a second welcome on one socket")]
        sock.session_id = message.session_id
        # Always the newest welcome's id: Twitch does not promise that the welcome after a
        # session_reconnect repeats the old id, so never keep an older one.
        self.session_id = message.session_id
        if message.keepalive_timeout_s:
            self.keepalive_timeout_s = message.keepalive_timeout_s
        if not sock.successor:
            self.connected_since = wall_now
            return [Welcomed(message.session_id, True), Subscribe(message.session_id)]
        actions: list[Action] = [Welcomed(message.session_id, False)]
        old = self.primary
        if old is not None:
            self._closing.add(old.id)
            actions.append(CloseSocket(old.id, "reconnected: the new socket has its welcome"))
        sock.successor = False
        self.primary, self.successor = sock, None
        return actions

    def socket_closed(self, socket_id: int, code: int | None) -> list[Action]:
        """A socket ended with `code` (None: no close frame, the network dropped)."""
        if socket_id in self._closing:
            self._closing.discard(socket_id)
            return []
        sock = self._known(socket_id)
        if sock is None:
            return []
        close = classify_close(code)
        if sock is self.primary and self.successor is not None:
            # The old socket ended first; the subscriptions wait for us on the successor.
            self.primary = None
            return []
        if sock is self.successor:
            return [Restart(f"the reconnect socket failed: {close.cause}", close)]
        return [Restart(close.cause, close)]

    def deadline(self) -> float | None:
        """When the watchdog must act if no message arrives before (monotonic seconds)."""
        times = []
        if self.primary is not None:
            if self.primary.session_id is None:
                times.append(self.primary.opened_at + self.welcome_timeout_s)
            elif self.last_message_at is not None:
                quiet = self.keepalive_timeout_s + self.keepalive_margin_s
                times.append(self.last_message_at + quiet)
        if self.successor is not None:
            times.append(self.successor.opened_at + self.welcome_timeout_s)
        return min(times) if times else None

    def check(self, now: float) -> list[Action]:
        """The watchdog: Restart when the deadline passed."""
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return []
        if self.successor is not None and now >= self.successor.opened_at + self.welcome_timeout_s:
            return [Restart("the reconnect socket sent no welcome in time")]
        if self.primary is not None and self.primary.session_id is None:
            return [Restart("no welcome in time")]
        quiet = now - (self.last_message_at or now)
        return [
            Restart(
                f"keepalive timeout: nothing received for {quiet:.1f} s "
                f"(keepalive_timeout_seconds {self.keepalive_timeout_s})"
            )
        ]
