"""Outgoing events, serialised once and framed once for every client.

Server-to-client WebSocket frames are unmasked (RFC 6455 section 5.1), so the same bytes are a
valid frame on every connection that did not negotiate a per-message compression for it; we
never compress these frames (RSV1 = 0 is allowed even when permessage-deflate was negotiated).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

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


@dataclass(slots=True)
class Outgoing:
    """One event as every client receives it: the JSON text and its frame, built once."""

    name: str
    id: str | None
    text: str
    key: tuple[int, int] = (0, 0)
    #: The id of the channel the event belongs to; None for system events (every channel's).
    channel: str | None = None
    _frame: bytes | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls, name: str, event_id: str | None, text: str, channel: str | None = None
    ) -> Outgoing:
        key = parse_stream_id(event_id) if event_id else (0, 0)
        return cls(name, event_id, text, key, channel)

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = text_frame(self.text.encode())
        return self._frame

    @property
    def size(self) -> int:
        return len(self.frame)
