"""Outgoing events, serialised once and framed once for every client.

Server-to-client WebSocket frames are unmasked (RFC 6455 section 5.1), so the same bytes are a
valid frame on every connection that did not negotiate a per-message compression for it; we
never compress these frames (RSV1 = 0 is allowed even when permessage-deflate was negotiated).
"""

from __future__ import annotations

import struct

from bus.base import parse_stream_id

__all__ = ["Outgoing", "text_frame"]

_FIN_TEXT = 0x81


def text_frame(payload: bytes) -> bytes:
    """A complete, unmasked, final text frame carrying `payload` (already UTF-8)."""
    length = len(payload)
    if length < 126:
        header = bytes((_FIN_TEXT, length))
    elif length < 65_536:
        header = struct.pack("!BBH", _FIN_TEXT, 126, length)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, 127, length)
    return header + payload


class Outgoing:
    """One event as every client receives it: the JSON text and its frame, built once.

    A plain slotted class, built once per event on the fan-out's hot path: the frame is made
    at once (every event is written), the stream-id key only when a replay compares ids.
    """

    __slots__ = ("_key", "channel", "frame", "id", "name", "text")

    def __init__(
        self, name: str, event_id: str | None, text: str, channel: str | None = None
    ) -> None:
        self.name = name
        self.id = event_id
        self.text = text
        #: The id of the channel the event belongs to; None for system events (every channel's).
        self.channel = channel
        self.frame = text_frame(text.encode())
        self._key: tuple[int, int] | None = None

    @property
    def key(self) -> tuple[int, int]:
        """The id as (ms, seq), for ordering against a replay; (0, 0) without an id."""
        key = self._key
        if key is None:
            key = self._key = parse_stream_id(self.id) if self.id else (0, 0)
        return key

    @property
    def size(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return f"Outgoing({self.name!r}, {self.id!r}, channel={self.channel!r})"
