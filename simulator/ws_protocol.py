"""uvicorn's WebSocket protocol, closing with 4002 when a client does not answer a Ping.

ASGI cannot send Pings, so the Ping/Pong check lives in the server protocol: uvicorn's
`websockets-sansio` implementation pings every `ws_ping_interval` and, when no Pong arrives
within `ws_ping_timeout`, fails the connection with 1011. Twitch closes with 4002 instead and
marks the subscriptions `websocket_failed_ping_pong`, so this subclass sends 4002 and tells the
app why the socket ended. Like Twitch, a Ping does not count as a message for the keepalive.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

#: The close reason; the app recognises a ping-pong failure by code 4002 and this text.
PING_PONG_REASON = "client failed ping-pong"
#: Scope key under which the app stores the connection's session, so a silenced session
#: ("go silent": send nothing at all) holds its Pings too.
SESSION_SCOPE_KEY = "simulator.session"


class TwitchWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol with Twitch's 4002 on a missed Pong."""

    def send_keepalive_ping(self) -> None:
        session = self.scope.get(SESSION_SCOPE_KEY) if getattr(self, "scope", None) else None
        if getattr(session, "silent", False):
            self.ping_timer = None
            self.schedule_ping()  # look again next interval; send nothing while silent
            return
        super().send_keepalive_ping()

    def keepalive_timeout(self) -> None:
        self.pong_timer = None
        self.pending_ping_payload = None
        if self.close_sent or self.transport.is_closing():
            return
        self.queue.put_nowait(
            {"type": "websocket.disconnect", "code": 4002, "reason": PING_PONG_REASON}
        )
        self.conn.fail(4002, PING_PONG_REASON)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()
