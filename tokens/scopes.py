"""Which scopes StreamCore asks for, and the readiness check run before the system starts."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tokens.errors import AuthRequired, TokenError

if TYPE_CHECKING:
    from tokens.manager import TokenManager

logger = logging.getLogger("streamcore.tokens")

#: Scopes StreamCore itself needs whatever workers run: none (the workers' union is enough;
#: reading the token's own user through /helix/users needs no scope).
CORE_SCOPES: tuple[str, ...] = ()


def union_scopes(*groups: Iterable[str]) -> list[str]:
    """Every scope named in any group, once, sorted (so links and logs are stable)."""
    return sorted({scope for group in groups for scope in group if scope})


def missing_scopes(required: Iterable[str], granted: Iterable[str] | None) -> list[str]:
    return sorted(set(required) - set(granted or ()))


async def require_ready(manager: TokenManager) -> None:
    """Return when the token exists and carries every required scope; otherwise raise
    `AuthRequired` with the auth link (None when TWITCH_CLIENT_ID is unset) and the missing
    scopes.

    The link is logged as well, so a user who reads logs rather than the dashboard finds it.
    """
    # A token stored by another process (`streamcore auth`) counts: re-read it first.
    await manager.fresh_status()
    missing = manager.missing_scopes()
    if manager.state == "ok" and not missing:
        return
    reason = f"missing scopes {', '.join(missing)}" if missing else (manager.reason or "no token")
    try:
        auth_url: str | None = (await manager.auth_link())["auth_url"]
    except TokenError as error:  # TWITCH_CLIENT_ID unset: say so instead of a link
        auth_url = None
        logger.warning("Cannot start: Twitch authorization needed, but %s", error)
    else:
        logger.warning("Cannot start: Twitch authorization needed (%s). Open %s", reason, auth_url)
    raise AuthRequired(f"Twitch authorization needed ({reason})", auth_url, missing)
