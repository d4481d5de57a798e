"""What id.twitch.tv issues: registered apps, access and refresh tokens, codes, device codes.

Plain records; the rules for issuing and using them are in `oauth.OAuthRegistry`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


def fingerprint(value: str) -> str:
    """A short, stable, non-reversible name for a token, safe to show in listings."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RegisteredApp:
    """A registered application. Public clients have no secret."""

    client_id: str
    client_secret: str | None
    redirect_uris: tuple[str, ...]


@dataclass
class AccessToken:
    """A user token (user_id set) or an app token (user_id None)."""

    value: str = field(repr=False)
    client_id: str
    user_id: str | None
    scopes: tuple[str, ...]
    expires_at: float
    status: str = "active"  # active | revoked | expired (forced through the control API)

    @property
    def kind(self) -> str:
        return "app" if self.user_id is None else "user"

    def is_valid(self, now: float) -> bool:
        return self.status == "active" and now < self.expires_at

    def describe(self, now: float) -> dict[str, Any]:
        """The control API's view: never the token itself, only a fingerprint and its tail."""
        status = self.status if self.status != "active" or now < self.expires_at else "expired"
        return {
            "fingerprint": fingerprint(self.value),
            "last4": self.value[-4:],
            "kind": self.kind,
            "client_id": self.client_id,
            "user_id": self.user_id,
            "scopes": list(self.scopes),
            "expires_in": max(0, int(self.expires_at - now)),
            "status": status,
        }


@dataclass
class RefreshToken:
    value: str = field(repr=False)
    client_id: str
    user_id: str
    scopes: tuple[str, ...]
    usable: bool = True


@dataclass
class AuthCode:
    value: str = field(repr=False)
    client_id: str
    redirect_uri: str
    user_id: str
    scopes: tuple[str, ...]
    expires_at: float


@dataclass
class DeviceCode:
    device_code: str = field(repr=False)
    user_code: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    interval: float
    status: str = "pending"  # pending | approved | denied
    user_id: str | None = None
    polls: int = 0
    last_poll: float | None = None
