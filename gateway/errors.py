"""Errors of the gateway package. Messages say what to do next and never contain a token.

GatewayError                    root (a core.errors.StreamCoreError)
 +-- MalformedFrame             a frame is not an EventSub message; it is logged and skipped
"""

from __future__ import annotations

from core.errors import StreamCoreError

__all__ = ["GatewayError", "MalformedFrame"]


class GatewayError(StreamCoreError):
    """Anything the gateway package raises on purpose."""


class MalformedFrame(GatewayError):
    """A frame that is not valid EventSub JSON (or misses a required field). It is skipped."""
