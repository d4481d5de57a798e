"""Rules for what clients may send us: small frames, few of them, JSON objects.

Clients of `/ws/events` mostly only listen. They may send `{"op": "ping"}` (answered with a
`system.pong` frame), and `subscribe`, `unsubscribe` and `call` requests, which go to the
connection's request handler. The rules exist so one misbehaving client costs
us nothing: a frame over `max_bytes`, more frames than the token bucket allows (`rate` per
second, bursts of `burst`; requests over it are answered `rate_limited` for one more burst),
a binary frame, text that is not a JSON object, or JSON nested
deeper than `max_depth` closes that client with 1008 and a reason. Every way a frame can be bad
ends in a `Verdict`, never an exception: the reader that calls `check` must outlive any input.
Pure logic; the socket layer feeds it frames and a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.jsonlimits import MAX_JSON_DEPTH, JsonTooDeep, loads_limited

__all__ = ["InboundPolicy", "Verdict"]


#: Ops that are requests for the connection's handler (events.session `ClientRequests`).
REQUEST_OPS = frozenset({"subscribe", "unsubscribe", "call"})


@dataclass(frozen=True, slots=True)
class Verdict:
    """`reply` is an op to answer; `request` a message for the request handler;
    `close_reason` ends the connection; `limited` says the request came over the rate and is
    to be answered `rate_limited`, not run."""

    reply: str | None = None
    close_reason: str | None = None
    request: dict[str, Any] | None = None
    limited: bool = False


_OK = Verdict()


class InboundPolicy:
    """Checks each inbound frame: size, rate (token bucket), and shape."""

    def __init__(
        self,
        max_bytes: int,
        rate: float,
        burst: int,
        now: float,
        max_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self.max_bytes = max_bytes
        self.rate = rate
        self.burst = burst
        self.max_depth = max_depth
        self._tokens = float(burst)
        self._updated = now

    def check(self, text: str | None, data: bytes | None, now: float) -> Verdict:
        size = len(data) if data is not None else len((text or "").encode())
        if size > self.max_bytes:
            return Verdict(close_reason=f"frame too big ({size} bytes > {self.max_bytes})")
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        # Over the rate, a request is still answered (`rate_limited`, so a Stream Deck that
        # double-taps learns why) for one more burst's worth; past that, or for anything
        # else, the client is closed.
        over = self._tokens < 1
        if over and self._tokens < 1 - self.burst:
            return Verdict(close_reason=self._too_many())
        self._tokens -= 1
        if text is None:
            return Verdict(close_reason="binary frames are not accepted; send JSON text")
        try:
            message = loads_limited(text, self.max_depth)
        except JsonTooDeep:
            # json.loads would raise RecursionError on this, killing the reader silently.
            reason = f'frame nested more than {self.max_depth} levels deep; send {{"op": "ping"}}'
            return Verdict(close_reason=reason)
        except ValueError:
            return Verdict(close_reason='frames must be JSON, e.g. {"op": "ping"}')
        if not isinstance(message, dict):
            return Verdict(close_reason='frames must be JSON objects, e.g. {"op": "ping"}')
        op = message.get("op")
        if op in REQUEST_OPS:
            return Verdict(request=message, limited=over)
        if over:
            return Verdict(close_reason=self._too_many())
        if op == "ping":
            return Verdict(reply="pong")
        return _OK

    def _too_many(self) -> str:
        return f"too many frames (more than {self.rate:g}/s)"
