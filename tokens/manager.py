"""The TokenManager: hands out a valid user access token, and knows when it cannot.

- Refreshes ahead of expiry and on a 401, and stores the rotated refresh token.
- Concurrent callers share one refresh: an asyncio lock in the process, and across processes
  the bus lock `core.constants.TOKEN_REFRESH_LOCK`; whoever acquires a lock re-reads the store
  first, because someone else may already have refreshed.
- Validates at start-up and hourly (`run_validation_loop`), as Twitch requires.
- When Twitch rejects the refresh or the token is revoked, the state becomes `auth_required`
  with a fresh link, logged once. From then on it calls Twitch no more until a new token
  arrives (callback, device flow, or `streamcore auth` in another process).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Literal

import httpx
from cryptography.fernet import Fernet

from bus.base import Bus
from core.constants import TOKEN_REFRESH_LOCK
from core.settings import Settings
from core.timestamps import iso_utc
from db_infrastructure.base import Store
from tokens.auth_states import AuthStates, Purpose
from tokens.channels import ChannelRegistry
from tokens.constants import (
    HTTP_TIMEOUT_S,
    REFRESH_AHEAD_S,
    REFRESH_LOCK_POLL_S,
    REFRESH_LOCK_TTL_S,
    STATE_TTL_S,
    VALIDATE_INTERVAL_S,
)
from tokens.device import DeviceFlow, DeviceFlows
from tokens.errors import (
    AuthRequired,
    OAuthError,
    TokenError,
    TwitchUnreachable,
)
from tokens.identities import ROLE_SCOPES, Identities
from tokens.model import TokenSet
from tokens.oauth import TwitchOAuth
from tokens.scopes import CORE_SCOPES, missing_scopes, union_scopes
from tokens.vault import TokenVault

logger = logging.getLogger("streamcore.tokens")

TokenState = Literal["ok", "auth_required"]


class TokenManager:
    """See the module docstring. `clock` (Unix time) and `sleep` are injectable for tests."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        bus: Bus,
        http: httpx.AsyncClient,
        required_scopes: Callable[[], list[str]],
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        cipher: Fernet | None = None,
    ) -> None:
        self.oauth = TwitchOAuth(settings, http)
        self.device_flows = DeviceFlows()
        self._store = store
        self._bus = bus
        self._vault = TokenVault(store, cipher or settings)
        self._states = AuthStates(store, clock)
        #: The channels that authorized StreamCore (this token's broadcaster among them).
        self.channels = ChannelRegistry(store, cipher or settings)
        #: The bot and moderator accounts.
        self.identities = Identities(store, cipher or settings)
        self._required = required_scopes
        self._clock = clock
        self._sleep = sleep
        self._token: TokenSet | None = None
        self._state: TokenState = "auth_required"
        self.reason = "not authorized yet"
        #: The access token Twitch rejected last; the store may still hold it, never reuse it.
        self._rejected: str | None = None
        self._auth_url: str | None = None
        self._auth_url_at = 0.0
        self._refresh_lock = asyncio.Lock()
        self._lock_owner = secrets.token_hex(8)
        self.validated_at: float | None = None

    def __repr__(self) -> str:
        return f"TokenManager(state={self._state!r}, login={self.login!r})"

    # -- what callers read ------------------------------------------------------------------

    @property
    def state(self) -> TokenState:
        return self._state

    @property
    def user_id(self) -> str | None:
        return self._token.user_id if self._token else None

    @property
    def login(self) -> str | None:
        return self._token.login if self._token else None

    @property
    def scopes(self) -> list[str] | None:
        return list(self._token.scopes) if self._token else None

    def required_scopes(self) -> list[str]:
        return union_scopes(CORE_SCOPES, self._required())

    def missing_scopes(self) -> list[str]:
        return missing_scopes(self.required_scopes(), self.scopes)

    def status(self) -> dict[str, Any]:
        """The state for status output and the dashboard; never a token."""
        token = self._token
        expires_at = token.expires_at if token else None
        return {
            "state": self._state,
            "reason": self.reason if self._state == "auth_required" else None,
            "login": self.login,
            "user_id": self.user_id,
            "scopes": self.scopes,
            "missing_scopes": self.missing_scopes(),
            "auth_url": self._auth_url if self._state == "auth_required" else None,
            "expires_at": iso_utc(expires_at),
            "validated_at": iso_utc(self.validated_at),
        }

    async def fresh_status(self) -> dict[str, Any]:
        """`status()`, with the link renewed when its state has expired (links are single-use
        and live STATE_TTL_S, so a status read an hour later needs a new one)."""
        if self._state == "auth_required":
            await self._adopt_stored_if_new()
        if self._state == "auth_required" and self._clock() - self._auth_url_at > STATE_TTL_S - 30:
            await self._renew_auth_url()
        return self.status()

    # -- start-up and the hourly validation ------------------------------------------------

    async def start(self) -> None:
        """Load the stored token and validate it; without one, become `auth_required`."""
        await self.identities.all(fresh=True)  # planning reads the moderator synchronously
        token = await self._vault.load()
        if token is None:
            await self.mark_auth_required("no Twitch token is stored yet")
            return
        self._use(token)
        await self.channels.ensure_recorded(token)  # a token stored before channels existed
        await self.validate()

    async def validate(self) -> None:
        """Ask Twitch whether the token still works (start-up and hourly); refresh once if not."""
        if self._state == "auth_required":
            await self._adopt_stored_if_new()  # a token may have arrived; this calls no Twitch
            return
        token = self._token
        assert token is not None
        try:
            validation = await self.oauth.validate(token.access_token)
        except TokenError as error:
            logger.warning("Could not validate the Twitch token (will retry next hour): %s", error)
            return
        if validation is None:
            logger.info("Twitch says the token is no longer valid; refreshing it")
            try:
                await self.refresh(after_401_with=token.access_token)
            except TokenError as error:
                if not isinstance(error, AuthRequired):
                    logger.warning("Token refresh after validation failed: %s", error)
            return
        self.validated_at = self._clock()
        if self._token is token:
            # In memory only: writing back could overwrite a refresh token another process
            # has rotated since we loaded this one.
            self._token = token.validated(validation, self._clock())
        missing = self.missing_scopes()
        if missing:
            logger.warning(
                "The Twitch token lacks scopes %s; authorize again at /tokens/link", missing
            )

    async def run_validation_loop(self) -> None:
        """Validate every VALIDATE_INTERVAL_S until cancelled (spawn through runtime.tasks)."""
        while True:
            await self._sleep(VALIDATE_INTERVAL_S)
            try:
                await self.validate()
            except Exception as error:  # keep validating whatever one round hit (e.g. the store)
                logger.warning("Token validation round failed: %s", error)

    # -- handing out tokens ---------------------------------------------------------------------

    async def access_token(self) -> str:
        """A valid access token, refreshed first when it expires within REFRESH_AHEAD_S."""
        if self._state == "auth_required":
            await self._adopt_stored_if_new()
        token = self._token
        if self._state == "auth_required" or token is None:
            raise await self._auth_required_error()
        if token.expires_within(REFRESH_AHEAD_S, self._clock()):
            try:
                return await self._refresh_if(
                    lambda t: t.expires_within(REFRESH_AHEAD_S, self._clock())
                )
            except TwitchUnreachable:
                if token.expires_within(0, self._clock()):
                    raise
                # Refreshing early failed, but the token still works for a few minutes.
                logger.warning("Early token refresh failed; using the current token meanwhile")
        return token.access_token

    async def refresh(self, after_401_with: str | None = None) -> str:
        """Refresh now, unless another caller already replaced the token that got the 401."""
        stale = after_401_with or (self._token.access_token if self._token else None)
        return await self._refresh_if(lambda t: t.access_token == stale)

    async def _refresh_if(self, is_stale: Callable[[TokenSet], bool]) -> str:
        async with self._refresh_lock:
            if self._state == "auth_required":
                await self._adopt_stored_if_new()
            token = self._token
            if self._state == "auth_required" or token is None:
                raise await self._auth_required_error()
            if not is_stale(token):
                return token.access_token  # another caller in this process refreshed it
            return await self._refresh_across_processes(is_stale)

    async def _refresh_across_processes(self, is_stale: Callable[[TokenSet], bool]) -> str:
        deadline = time.monotonic() + REFRESH_LOCK_TTL_S + HTTP_TIMEOUT_S
        while not await self._bus.set_if_absent(
            TOKEN_REFRESH_LOCK, self._lock_owner, REFRESH_LOCK_TTL_S
        ):
            stored = await self._vault.load()
            if (
                stored is not None
                and stored.access_token != self._rejected
                and not is_stale(stored)
            ):
                self._use(stored)  # the lock holder refreshed for us
                return stored.access_token
            if time.monotonic() > deadline:
                raise TwitchUnreachable(
                    "Another StreamCore process has been refreshing the Twitch token for too "
                    "long; retry shortly (check that process's logs)."
                )
            await asyncio.sleep(REFRESH_LOCK_POLL_S)
        try:
            stored = await self._vault.load()
            if stored is None:
                await self.mark_auth_required("the stored Twitch token was deleted")
                raise await self._auth_required_error()
            if not is_stale(stored):
                self._use(stored)  # another process refreshed before we got the lock
                return stored.access_token
            return await self._refresh_stored(stored)
        finally:
            # Twitch answers within HTTP_TIMEOUT_S < the lock TTL, so the lock is still ours.
            await self._bus.delete_key(TOKEN_REFRESH_LOCK)

    async def _refresh_stored(self, stored: TokenSet) -> str:
        if not stored.refresh_token:
            await self.mark_auth_required("the Twitch token has no refresh token")
            raise await self._auth_required_error()
        try:
            grant = await self.oauth.refresh(stored.refresh_token)
        except OAuthError as error:
            self._token = stored
            await self.mark_auth_required(f"Twitch rejected the token refresh: {error.message}")
            raise await self._auth_required_error() from None
        token = stored.rotated(grant, self._clock())
        await self._vault.save(token)
        self._use(token)
        logger.info("Refreshed the Twitch token of %s", token.login or "the user")
        return token.access_token

    # -- authorization --------------------------------------------------------------------------

    async def auth_link(
        self, purpose: Purpose = "main", extra_scopes: Sequence[str] = ()
    ) -> dict[str, Any]:
        """A Twitch authorization link with a single-use `state` that lives STATE_TTL_S;
        `purpose` "channel" adds the broadcaster who approves it as another channel;
        `extra_scopes` (an action's) are asked for besides the workers' and those held;
        "bot" and "moderator" ask for that account's own scopes (tokens.identities)."""
        if purpose in ROLE_SCOPES:
            scopes = union_scopes(ROLE_SCOPES[purpose], extra_scopes)
        else:
            scopes = union_scopes(self.required_scopes(), [*(self.scopes or []), *extra_scopes])
        state = self._states.new()
        url = self.oauth.authorize_url(scopes, state)  # raises first when TWITCH_CLIENT_ID unset
        await self._states.remember(state, purpose, scopes)
        return {"auth_url": url, "scopes": scopes}

    async def consume_state(self, state: str | None) -> Purpose:
        """Accept a callback's `state` once (its purpose); raise InvalidOAuthState otherwise."""
        return await self._states.take(state)

    async def complete_authorization(
        self, code: str, state: str | None
    ) -> tuple[Purpose, TokenSet]:
        """The OAuth callback: check `state`, exchange `code`, learn the user, store it; what
        the link was for, and the token."""
        purpose = await self.consume_state(state)
        grant = await self.oauth.exchange_code(code)
        token = await self.oauth.identify(grant, self._clock())
        await self._adopt_for(purpose, token)
        return purpose, token

    async def _adopt_for(self, purpose: Purpose, token: TokenSet) -> None:
        """A channel's token is kept apart, unless there is no default channel yet (then it
        is the default) or it is the default channel's broadcaster authorizing again."""
        if purpose in ROLE_SCOPES:
            await self.identities.save(purpose, token)
        elif purpose == "channel" and self.user_id and token.user_id != self.user_id:
            await self.channels.add_with_token(token)
            logger.info("Added channel %s (scopes: %s)", token.login, " ".join(token.scopes))
        else:
            await self.adopt(token)

    async def adopt(self, token: TokenSet) -> None:
        """Store a newly authorized token and use it from now on."""
        async with self._refresh_lock:
            await self._vault.save(token)
            self._use(token)
        await self.channels.record_authorized(token)
        self.validated_at = self._clock()
        logger.info("Connected to Twitch as %s (scopes: %s)", token.login, " ".join(token.scopes))
        missing = self.missing_scopes()
        if missing:
            logger.warning("The new Twitch token lacks scopes %s", missing)

    async def begin_device_flow(
        self, purpose: Purpose = "main"
    ) -> tuple[DeviceFlow, Coroutine[Any, Any, None]]:
        """Start a device flow; the caller runs the returned coroutine (it polls and stores)."""
        return await self.device_flows.begin(
            self.oauth,
            ROLE_SCOPES.get(purpose) or self.required_scopes(),
            sleep=self._sleep,
            clock=self._clock,
            adopt=functools.partial(self._adopt_for, purpose),
        )

    async def revoke(self) -> dict[str, Any]:
        """Revoke the token at Twitch and forget it (`DELETE /tokens`)."""
        token = self._token or await self._vault.load()
        revoked_at_twitch = False
        if token is not None:
            try:
                await self.oauth.revoke(token.access_token)
                revoked_at_twitch = True
            except TokenError as error:
                logger.warning("Could not revoke the token at Twitch (deleted locally): %s", error)
        async with self._refresh_lock:
            await self._vault.delete()
        await self.mark_auth_required("the token was revoked through DELETE /tokens")
        return {"status": "revoked", "revoked_at_twitch": revoked_at_twitch}

    async def mark_auth_required(self, reason: str) -> None:
        """Stop using the token (revoked, refresh rejected, ...) and log a link, once."""
        if self._token is not None:
            self._rejected = self._token.access_token
        already = self._state == "auth_required"
        # The link first, then the state in the same step: whoever reads auth_required (the
        # status, the dashboard) reads the link that fixes it too.
        url = await self._new_auth_url()
        self._state, self.reason = "auth_required", reason
        self._auth_url, self._auth_url_at = url, self._clock()
        if already:
            return
        if self._auth_url:
            logger.warning(
                "Twitch authorization needed (%s). Open %s to connect StreamCore (or run "
                "`streamcore auth` where no browser is available).",
                reason,
                self._auth_url,
            )
        else:
            logger.warning(
                "Twitch authorization needed (%s). Set TWITCH_CLIENT_ID and "
                "TWITCH_CLIENT_SECRET, restart, then open /tokens/link.",
                reason,
            )

    # -- internals ------------------------------------------------------------------------------

    def _use(self, token: TokenSet) -> None:
        self._token = token
        self._state, self.reason = "ok", ""
        self._auth_url, self._rejected = None, None

    async def _adopt_stored_if_new(self) -> None:
        stored = await self._vault.load()
        if stored is not None and stored.access_token != self._rejected:
            self._use(stored)
            logger.info("Using the Twitch token of %s found in the store", stored.login)

    async def _new_auth_url(self) -> str | None:
        try:
            return str((await self.auth_link())["auth_url"])
        except TokenError:
            return None  # TWITCH_CLIENT_ID unset: the log line says to set it

    async def _renew_auth_url(self) -> None:
        self._auth_url, self._auth_url_at = await self._new_auth_url(), self._clock()

    async def _auth_required_error(self) -> AuthRequired:
        if self._auth_url is None:
            await self._renew_auth_url()
        return AuthRequired(
            f"Twitch authorization needed ({self.reason}). Open "
            f"{self._auth_url or '/tokens/link'} to connect StreamCore.",
            auth_url=self._auth_url,
            missing_scopes=self.missing_scopes(),
        )
