"""The id.twitch.tv client: authorize URL, code exchange, refresh, validate, revoke, device flow.

Only wire work lives here: it calls `{TWITCH_AUTH_URL}/authorize|token|validate|revoke|device`
and turns answers into `tokens.model` types or `tokens.errors`. Deciding when to call belongs to
`tokens.manager`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from core.logging import add_secret
from core.settings import Settings
from tokens.errors import OAuthError, TwitchAppNotConfigured, TwitchUnreachable
from tokens.model import TokenGrant, TokenSet, Validation

DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(frozen=True, slots=True)
class DeviceCode:
    """What /oauth2/device answered; show `verification_uri` and `user_code` to the user."""

    device_code: str = field(repr=False)
    user_code: str
    verification_uri: str
    expires_in: int
    #: Seconds between polls; Twitch sends an integer, accept a fraction too.
    interval: float

    def __post_init__(self) -> None:
        add_secret(self.device_code)


@dataclass(frozen=True, slots=True)
class DevicePending:
    """The user has not approved yet; `slow_down` means poll less often."""

    slow_down: bool = False


def require_client_id(settings: Settings) -> str:
    if not settings.twitch_client_id:
        raise TwitchAppNotConfigured(
            "TWITCH_CLIENT_ID is not set. Create an application at "
            "https://dev.twitch.tv/console/apps, then set TWITCH_CLIENT_ID (and "
            "TWITCH_CLIENT_SECRET) in the environment or in .env and restart StreamCore."
        )
    return settings.twitch_client_id


def require_client_secret(settings: Settings) -> str:
    secret = settings.twitch_client_secret.get_secret_value()
    if not secret:
        raise TwitchAppNotConfigured(
            "TWITCH_CLIENT_SECRET is not set. Copy it from your application at "
            "https://dev.twitch.tv/console/apps into the environment or .env and restart "
            "StreamCore, or use the device flow (`streamcore auth`), which needs no secret."
        )
    return secret


class TwitchOAuth:
    """One method per id.twitch.tv endpoint StreamCore uses."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http
        self._base = settings.twitch_auth_url

    def authorize_url(self, scopes: list[str], state: str) -> str:
        query = urlencode(
            {
                "client_id": require_client_id(self._settings),
                "redirect_uri": self._settings.twitch_redirect_uri,
                "response_type": "code",
                "scope": " ".join(scopes),
                "state": state,
            },
            quote_via=quote,
        )
        return f"{self._base}/authorize?{query}"

    async def exchange_code(self, code: str) -> TokenGrant:
        add_secret(code)
        body = await self._post_form(
            "token",
            {
                "client_id": require_client_id(self._settings),
                "client_secret": require_client_secret(self._settings),
                "code": code,
                "grant_type": "authorization_code",
                "redirect_uri": self._settings.twitch_redirect_uri,
            },
        )
        return _grant(body)

    async def app_token(self, client_id: str, client_secret: str) -> TokenGrant:
        """An app access token (client-credentials grant): no user, no refresh token."""
        form = {
            "client_id": client_id,
            "client_secret": client_secret,
            "grant_type": "client_credentials",
        }
        return _grant(await self._post_form("token", form))

    async def refresh(self, refresh_token: str) -> TokenGrant:
        form = {
            "client_id": require_client_id(self._settings),
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        }
        # Public clients (device flow without a secret) refresh without one.
        secret = self._settings.twitch_client_secret.get_secret_value()
        if secret:
            form["client_secret"] = secret
        return _grant(await self._post_form("token", form))

    async def validate(self, access_token: str) -> Validation | None:
        """The token's owner and scopes, or None when Twitch says the token is invalid (401)."""
        response = await self._send(
            "GET", "validate", headers={"Authorization": f"OAuth {access_token}"}
        )
        if response.status_code == 401:
            return None
        body = _checked(response, "validate")
        return Validation(
            client_id=str(body.get("client_id", "")),
            user_id=_opt_str(body.get("user_id")),
            login=_opt_str(body.get("login")),
            scopes=list(body.get("scopes") or []),
            expires_in=int(body.get("expires_in") or 0),
        )

    async def identify(self, grant: TokenGrant, now: float) -> TokenSet:
        """A fresh grant as a TokenSet, with its user and scopes learned from /validate."""
        validation = await self.validate(grant.access_token)
        if validation is None:
            raise OAuthError(
                "Twitch rejected the token it had just issued; authorize again.", 401, "invalid"
            )
        return TokenSet.from_grant(grant, now, validation)

    async def revoke(self, access_token: str) -> None:
        """Revoke at Twitch; a token Twitch no longer knows counts as revoked."""
        form = {"client_id": require_client_id(self._settings), "token": access_token}
        response = await self._send("POST", "revoke", data=form)
        if response.status_code == 400:
            return
        _checked(response, "revoke", allow_empty=True)

    async def start_device(self, scopes: list[str]) -> DeviceCode:
        body = await self._post_form(
            "device",
            {"client_id": require_client_id(self._settings), "scopes": " ".join(scopes)},
        )
        return DeviceCode(
            device_code=str(body["device_code"]),
            user_code=str(body["user_code"]),
            verification_uri=str(body["verification_uri"]),
            expires_in=int(body.get("expires_in") or 1800),
            interval=float(body.get("interval") or 5),
        )

    async def poll_device(self, device_code: str, scopes: list[str]) -> TokenGrant | DevicePending:
        form = {
            "client_id": require_client_id(self._settings),
            "scopes": " ".join(scopes),
            "device_code": device_code,
            "grant_type": DEVICE_GRANT_TYPE,
        }
        try:
            return _grant(await self._post_form("token", form))
        except OAuthError as error:
            reason = error.message.lower()
            if "authorization_pending" in reason:
                return DevicePending()
            if "slow_down" in reason:
                return DevicePending(slow_down=True)
            raise

    # -- plumbing ---------------------------------------------------------------------------

    async def _post_form(self, endpoint: str, form: dict[str, str]) -> dict[str, Any]:
        return _checked(await self._send("POST", endpoint, data=form), endpoint)

    async def _send(self, method: str, endpoint: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, f"{self._base}/{endpoint}", **kwargs)
        except httpx.HTTPError as error:
            raise TwitchUnreachable(
                f"Cannot reach Twitch at {self._base}/{endpoint} ({type(error).__name__}). "
                "Check the network and TWITCH_AUTH_URL; StreamCore retries on the next call."
            ) from None
        if response.status_code >= 500:
            raise TwitchUnreachable(
                f"Twitch answered {response.status_code} at {self._base}/{endpoint}; "
                "it is having problems, StreamCore retries on the next call."
            )
        return response


def _checked(response: httpx.Response, endpoint: str, allow_empty: bool = False) -> dict[str, Any]:
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code >= 400:
        message = str(body.get("message") or body.get("error") or f"HTTP {response.status_code}")
        raise OAuthError(
            f"Twitch refused /oauth2/{endpoint} ({response.status_code}: {message}).",
            response.status_code,
            message,
        )
    if not body and not allow_empty:
        raise TwitchUnreachable(f"Twitch sent an empty answer from /oauth2/{endpoint}; retry.")
    return body


def _grant(body: dict[str, Any]) -> TokenGrant:
    scope = body.get("scope") or []
    # `scope` is an array on Twitch; accept a space-delimited string too (RFC 6749 shape).
    scopes = scope.split() if isinstance(scope, str) else list(scope)
    expires_in = body.get("expires_in")
    return TokenGrant(
        access_token=str(body["access_token"]),
        refresh_token=_opt_str(body.get("refresh_token")),
        expires_in=int(expires_in) if expires_in else None,
        scopes=scopes,
    )


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
