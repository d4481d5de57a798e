"""The simulator's errors. Each carries the HTTP status and message its API answers with.

StreamCoreError (core.errors)
 +-- SimulatorError           root of everything the simulator raises on purpose
      +-- HelixError          a Helix call fails: {"error", "status", "message"} body
      +-- OAuthRefusal          an /oauth2 call fails: {"status", "message"} body
      +-- ControlError        a control API call is malformed or names nothing known
      +-- SimulatorUnreachable  the CLI found no simulator at the URL it was given
"""

from __future__ import annotations

from http import HTTPStatus

from core.errors import StreamCoreError


class SimulatorError(StreamCoreError):
    """Raised on purpose by the simulator; the message is meant for the developer."""


class _StatusError(SimulatorError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def reason(self) -> str:
        """The HTTP status text, which Twitch puts in the `error` field."""
        return HTTPStatus(self.status).phrase


class HelixError(_StatusError):
    """A Helix request is refused; the route turns it into Twitch's error body."""

    def body(self) -> dict[str, object]:
        return {"error": self.reason, "status": self.status, "message": self.message}


class OAuthRefusal(_StatusError):
    """An OAuth request is refused; Twitch's id service answers {"status", "message"}."""

    def body(self) -> dict[str, object]:
        return {"status": self.status, "message": self.message}


class ControlError(_StatusError):
    """A control API request is malformed or names an unknown session/subscription/token."""

    def body(self) -> dict[str, object]:
        return {"error": self.reason, "status": self.status, "message": self.message}


class SimulatorUnreachable(SimulatorError):
    """No simulator answers at the given URL; start one with `streamcore simulate`."""
