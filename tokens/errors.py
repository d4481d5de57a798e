"""Errors of the tokens package. Messages say what to do next and never contain a token.

TokenError                        root (a core.errors.StreamCoreError)
 +-- TwitchAppNotConfigured       TWITCH_CLIENT_ID / TWITCH_CLIENT_SECRET missing: set it
 +-- AuthRequired                 no usable token: open `.auth_url`; `.missing_scopes`
 +-- InvalidOAuthState            the callback's `state` is missing, unknown, expired or reused
 +-- OAuthError                   id.twitch.tv answered with an error (`.status`, `.message`)
 |    +-- DeviceFlowFailed        the device code expired or the user refused it
 +-- TwitchUnreachable            id.twitch.tv could not be reached or answered 5xx: retry
 +-- HelixError                   api.twitch.tv answered with an error (`.status`, `.message`)
      +-- HelixBadRequest         400: fix the request
      +-- HelixUnauthorized       401 even after a refresh: authorize again
      +-- HelixForbidden          403: a scope is missing (`.missing_scope` when known)
      +-- HelixNotFound           404
      +-- HelixConflict           409: it exists already (`.existing_id` when known)
      +-- HelixGone               410: the type/version was removed; use the current one
      +-- HelixRateLimited        429 after waiting once (`.reset_at`, Unix time)
      +-- HelixServerError        5xx twice, or the network failed twice (`.status` 0)
      +-- ChatMessageDropped      200 but `is_sent` false (`.drop_reason`)
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import StreamCoreError

__all__ = [
    "AuthRequired",
    "ChatMessageDropped",
    "DeviceFlowFailed",
    "HelixBadRequest",
    "HelixConflict",
    "HelixError",
    "HelixForbidden",
    "HelixGone",
    "HelixNotFound",
    "HelixRateLimited",
    "HelixServerError",
    "HelixUnauthorized",
    "InvalidOAuthState",
    "OAuthError",
    "TokenError",
    "TwitchAppNotConfigured",
    "TwitchUnreachable",
    "helix_error_for",
]


class TokenError(StreamCoreError):
    """Anything the tokens package raises on purpose."""


class TwitchAppNotConfigured(TokenError):
    """A Twitch application setting needed by this flow is unset."""


class AuthRequired(TokenError):
    """StreamCore holds no usable token (never authorized, revoked, or scopes missing)."""

    def __init__(
        self, message: str, auth_url: str | None = None, missing_scopes: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.auth_url = auth_url
        self.missing_scopes = list(missing_scopes or [])


class InvalidOAuthState(TokenError):
    """The OAuth callback's `state` does not match a link StreamCore handed out."""


class OAuthError(TokenError):
    """id.twitch.tv refused a request. `message` is Twitch's text (it never holds a token)."""

    def __init__(self, text: str, status: int, message: str) -> None:
        super().__init__(text)
        self.status = status
        self.message = message


class DeviceFlowFailed(OAuthError):
    """The device code expired or was refused; start the device flow again."""


class TwitchUnreachable(TokenError):
    """id.twitch.tv did not answer usefully (network error or 5xx); retry later."""


class HelixError(TokenError):
    """A Helix call failed. `status` is the HTTP status, `message` Twitch's explanation."""

    def __init__(self, text: str, status: int, message: str) -> None:
        super().__init__(text)
        self.status = status
        self.message = message


class HelixBadRequest(HelixError):
    """400: the request is malformed (a condition, an id, a body field)."""


class HelixUnauthorized(HelixError):
    """401 even with a freshly refreshed token: the Client-Id or the token is wrong."""


class HelixForbidden(HelixError):
    """403: the token lacks a scope (or the user may not do this)."""

    def __init__(
        self, text: str, status: int, message: str, missing_scope: str | None = None
    ) -> None:
        super().__init__(text, status, message)
        self.missing_scope = missing_scope


class HelixNotFound(HelixError):
    """404: the object does not exist (any more)."""


class HelixConflict(HelixError):
    """409: it exists already; `existing_id` names it when Twitch says which."""

    def __init__(
        self, text: str, status: int, message: str, existing_id: str | None = None
    ) -> None:
        super().__init__(text, status, message)
        self.existing_id = existing_id


class HelixGone(HelixError):
    """410: the subscription type/version was removed; subscribe to the current version."""


class HelixRateLimited(HelixError):
    """429 after StreamCore already waited once; `reset_at` is when the bucket refills."""

    def __init__(self, text: str, status: int, message: str, reset_at: float | None) -> None:
        super().__init__(text, status, message)
        self.reset_at = reset_at


class HelixServerError(HelixError):
    """Twitch failed twice in a row (5xx, or `status` 0 for a network error); retry later."""


class ChatMessageDropped(HelixError):
    """Twitch accepted the chat message but did not send it (AutoMod, a chat mode, ...)."""

    def __init__(self, text: str, drop_reason: dict[str, Any] | None) -> None:
        super().__init__(text, 200, (drop_reason or {}).get("message", "message dropped"))
        self.drop_reason = drop_reason or {}


_SCOPE = re.compile(r"[a-z_]+(?::[a-z_]+)+")

_ADVICE = {
    400: "Fix the request (check ids, condition and body fields).",
    401: "Twitch rejected the token even after a refresh; check that TWITCH_CLIENT_ID matches "
    "the app the token was issued to, or authorize again at /tokens/link.",
    403: "The token lacks a permission; authorize again at /tokens/link so the missing scope "
    "is granted.",
    404: "It does not exist (any more).",
    409: "It exists already; reuse it or delete it first.",
    410: "This type/version was removed by Twitch; use the current version.",
    429: "Twitch's rate limit is exhausted; slow down and retry after the reset time.",
}


def helix_error_for(
    method: str, path: str, status: int, body: dict[str, Any], reset_at: float | None = None
) -> HelixError:
    """Turn a Helix error response into the typed error a caller can branch on."""
    message = str(body.get("message") or body.get("error") or f"HTTP {status}")
    advice = _ADVICE.get(status, "Twitch had a problem; retry later.")
    text = f"Twitch refused {method} /{path} ({status}: {message}). {advice}"
    if status == 400:
        return HelixBadRequest(text, status, message)
    if status == 401:
        return HelixUnauthorized(text, status, message)
    if status == 403:
        scope = _scope_in(message)
        if scope:
            text = (
                f"Twitch refused {method} /{path} (403: {message}). The token lacks the scope "
                f"{scope}; authorize again at /tokens/link so it is granted."
            )
        return HelixForbidden(text, status, message, missing_scope=scope)
    if status == 404:
        return HelixNotFound(text, status, message)
    if status == 409:
        return HelixConflict(text, status, message, existing_id=_existing_id(body))
    if status == 410:
        return HelixGone(text, status, message)
    if status == 429:
        return HelixRateLimited(text, status, message, reset_at)
    return HelixServerError(text, status, message)


def _scope_in(message: str) -> str | None:
    # Scopes look like `moderator:read:followers`; Twitch names the missing one in the message.
    for word in re.split(r"[\s,'\"()\[\]]+", message):
        word = word.rstrip(".")
        if _SCOPE.fullmatch(word):
            return word
    return None


def _existing_id(body: dict[str, Any]) -> str | None:
    if isinstance(body.get("id"), str):
        return str(body["id"])
    data = body.get("data")
    if isinstance(data, list) and data and isinstance(data[0], dict) and data[0].get("id"):
        return str(data[0]["id"])
    return None
