"""Our token types, apart from Twitch's wire shapes (which `tokens.oauth` parses).

Every object holding a token registers it with `core.logging.add_secret` when built and prints
it as `***` in its repr, so neither logs nor tracebacks can leak it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from core.logging import add_secret


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What /oauth2/token answered: a new access token and (usually) a refresh token."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int | None
    scopes: list[str]

    def __post_init__(self) -> None:
        add_secret(self.access_token)
        add_secret(self.refresh_token)

    def __repr__(self) -> str:
        return f"TokenGrant(access_token='***', expires_in={self.expires_in}, scopes={self.scopes})"


@dataclass(frozen=True, slots=True)
class Validation:
    """What /oauth2/validate answered for a live token."""

    client_id: str
    user_id: str | None
    login: str | None
    scopes: list[str]
    expires_in: int


@dataclass(frozen=True, slots=True)
class TokenSet:
    """The user token StreamCore keeps: secrets plus what /validate told us about them."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    #: Unix time the access token expires, or None when Twitch said it does not expire.
    expires_at: float | None
    scopes: list[str]
    user_id: str | None = None
    login: str | None = None

    def __post_init__(self) -> None:
        add_secret(self.access_token)
        add_secret(self.refresh_token)

    def __repr__(self) -> str:
        return (
            f"TokenSet(access_token='***', refresh_token='***', login={self.login!r}, "
            f"user_id={self.user_id!r}, scopes={self.scopes}, expires_at={self.expires_at})"
        )

    @classmethod
    def from_grant(
        cls, grant: TokenGrant, now: float, validation: Validation | None = None
    ) -> TokenSet:
        expires_in = validation.expires_in if validation else grant.expires_in
        return cls(
            access_token=grant.access_token,
            refresh_token=grant.refresh_token,
            expires_at=now + expires_in if expires_in else None,
            scopes=sorted(validation.scopes if validation else grant.scopes),
            user_id=validation.user_id if validation else None,
            login=validation.login if validation else None,
        )

    def rotated(self, grant: TokenGrant, now: float) -> TokenSet:
        """This token after a refresh: new secrets, same user. Keep the old refresh token only
        when Twitch sent none (it rotates them, so a new one always replaces the old)."""
        return replace(
            self,
            access_token=grant.access_token,
            refresh_token=grant.refresh_token or self.refresh_token,
            expires_at=now + grant.expires_in if grant.expires_in else None,
            scopes=sorted(grant.scopes) if grant.scopes else self.scopes,
        )

    def validated(self, validation: Validation, now: float) -> TokenSet:
        return replace(
            self,
            user_id=validation.user_id or self.user_id,
            login=validation.login or self.login,
            scopes=sorted(validation.scopes),
            expires_at=now + validation.expires_in if validation.expires_in else None,
        )

    def expires_within(self, seconds: float, now: float) -> bool:
        return self.expires_at is not None and self.expires_at - now <= seconds

    def to_json(self) -> str:
        return json.dumps(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_at": self.expires_at,
                "scopes": self.scopes,
                "user_id": self.user_id,
                "login": self.login,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> TokenSet:
        data: dict[str, Any] = json.loads(text)
        return cls(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token"),
            expires_at=data.get("expires_at"),
            scopes=list(data.get("scopes") or []),
            user_id=data.get("user_id"),
            login=data.get("login"),
        )
