"""The dashboard's login sessions, kept server-side in the store.

The browser holds only a random session id (`secrets.token_urlsafe(32)`, in the HttpOnly cookie
`app.access.ADMIN_COOKIE`); the admin token is typed into the login form and never stored in
the browser. The store keeps the SHA-256 of the id, so a copy of the database holds no usable
cookie, with when the session began and when it was last seen:

- it ends `STREAMCORE_SESSION_MAX_AGE_S` after login whatever happens (absolute expiry), and
  `STREAMCORE_SESSION_IDLE_S` after it was last used (idle timeout);
- use refreshes "last seen", written back at most once a minute (the dashboard polls every few
  seconds; a write per poll would be wasted), and at least twice per idle period, so a session
  in use never idles out;
- logout deletes it; every login opens a new one and deletes the one the browser presented.

Sessions live in the store, not in memory, so every process serving the same store agrees.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.settings import Settings
from db_infrastructure import Store

__all__ = ["NAMESPACE", "TOUCH_INTERVAL_S", "DashboardSessions"]

NAMESPACE = "dashboard_sessions"
#: The longest "last seen" may lag behind the last use (see the module docstring).
TOUCH_INTERVAL_S = 60.0
#: token_urlsafe(32) is 43 characters; anything much longer is not one of ours.
_MAX_ID_LENGTH = 128


def _store_key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class DashboardSessions:
    """Open, check and revoke dashboard sessions (see the module docstring)."""

    store: Store
    max_age_s: float
    idle_s: float
    clock: Callable[[], float] = field(default=time.time)

    @classmethod
    def for_settings(cls, store: Store, settings: Settings) -> DashboardSessions:
        return cls(
            store,
            max_age_s=settings.streamcore_session_max_age_s,
            idle_s=settings.streamcore_session_idle_s,
        )

    @property
    def touch_interval_s(self) -> float:
        return min(TOUCH_INTERVAL_S, self.idle_s / 2)

    async def open(self) -> str:
        """A new session; returns its id, for the cookie (the store never sees it)."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        await self._save(_store_key(session_id), created=now, seen=now)
        return session_id

    async def check(self, session_id: str | None) -> bool:
        """True while the session is valid; refreshes its idle timer (see the docstring)."""
        if not session_id or len(session_id) > _MAX_ID_LENGTH:
            return False
        key = _store_key(session_id)
        raw = await self.store.get(NAMESPACE, key)
        if raw is None:
            return False
        try:
            record = json.loads(raw)
            created, seen = float(record["created"]), float(record["seen"])
        except (ValueError, KeyError, TypeError):
            await self.store.delete(NAMESPACE, key)
            return False
        now = self.clock()
        if now >= min(created + self.max_age_s, seen + self.idle_s):
            await self.store.delete(NAMESPACE, key)
            return False
        if now - seen >= self.touch_interval_s:
            await self._save(key, created=created, seen=now)
        return True

    async def revoke(self, session_id: str | None) -> None:
        """End the session (logout, or the old one at a new login); unknown ids are ignored."""
        if session_id and len(session_id) <= _MAX_ID_LENGTH:
            await self.store.delete(NAMESPACE, _store_key(session_id))

    async def _save(self, key: str, *, created: float, seen: float) -> None:
        # The store drops the record when the session could no longer be valid anyway.
        ttl_s = min(seen + self.idle_s, created + self.max_age_s) - seen
        record = json.dumps({"created": created, "seen": seen})
        await self.store.put(NAMESPACE, key, record, ttl_s=max(ttl_s, 0.001))
