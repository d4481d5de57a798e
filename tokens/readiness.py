"""The readiness check run before the system starts: a token with every required scope."""

from __future__ import annotations

import logging

from tokens.errors import AuthRequired, TokenError
from tokens.manager import TokenManager

__all__ = ["require_ready"]

logger = logging.getLogger("streamcore.tokens")


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
