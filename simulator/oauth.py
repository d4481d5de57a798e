"""The simulated id.twitch.tv: clients, codes, access and refresh tokens, device codes.

Pure state and rules, no I/O. Every refusal raises OAuthRefusal with the status and message
Twitch answers with. Refresh tokens are single-use and rotate; an expired or revoked access
token is invalid everywhere.

Twitch documents the flows and their answers in
https://dev.twitch.tv/docs/authentication/getting-tokens-oauth/ (authorization code and device
code flows), https://dev.twitch.tv/docs/authentication/refresh-tokens/ ,
https://dev.twitch.tv/docs/authentication/validate-tokens/ and
https://dev.twitch.tv/docs/authentication/revoke-tokens/ .
"""

from __future__ import annotations

import re
import secrets
import string
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from simulator.config import SimulatorConfig
from simulator.errors import OAuthRefusal
from simulator.oauth_records import (
    AccessToken,
    AuthCode,
    DeviceCode,
    RefreshToken,
    RegisteredApp,
    fingerprint,
)

__all__ = [
    "DEVICE_GRANT",
    "AccessToken",
    "OAuthRegistry",
    "RegisteredApp",
    "fingerprint",
    "parse_scopes",
]

_TOKEN_ALPHABET = string.ascii_lowercase + string.digits
_SCOPE_PATTERN = re.compile(r"^(openid|[a-z_]+(:[a-z_]+)+)$")
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _random_token(length: int) -> str:
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(length))


def parse_scopes(raw: str | None) -> tuple[str, ...]:
    """Space-delimited scopes (a `+` arrives as a space once the query is decoded)."""
    scopes = tuple(dict.fromkeys((raw or "").split()))
    bad = [s for s in scopes if not _SCOPE_PATTERN.match(s)]
    if bad:
        raise OAuthRefusal(400, f"invalid scope requested: {bad[0]!r}")
    return scopes


class OAuthRegistry:
    """Every OAuth artefact the simulator has issued, and the rules for using them."""

    def __init__(
        self,
        config: SimulatorConfig,
        login_of: Callable[[str], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.login_of = login_of
        self.clock = clock
        self.clients: dict[str, RegisteredApp] = {
            config.client_id: RegisteredApp(
                config.client_id, config.client_secret, tuple(config.redirect_uris)
            )
        }
        self.access_tokens: dict[str, AccessToken] = {}
        #: user id -> their access and refresh tokens, so per-user questions (has this user
        #: authorized the client? revoke everything of theirs) do not walk every token issued.
        self.access_by_user: defaultdict[str, list[AccessToken]] = defaultdict(list)
        self.refresh_by_user: defaultdict[str, list[RefreshToken]] = defaultdict(list)
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        self.device_codes: dict[str, DeviceCode] = {}

    # -- clients ---------------------------------------------------------------------------

    def client(self, client_id: str | None) -> RegisteredApp:
        client = self.clients.get(client_id or "")
        if client is None:
            raise OAuthRefusal(400, "invalid client")
        return client

    def _check_secret(self, client: RegisteredApp, secret: str | None) -> None:
        if client.client_secret is None:
            return
        if not secret:
            raise OAuthRefusal(400, "missing client secret")
        if not secrets.compare_digest(secret, client.client_secret):
            raise OAuthRefusal(403, "invalid client secret")

    # -- issuing ---------------------------------------------------------------------------

    def issue_user_token(
        self,
        client_id: str,
        user_id: str,
        scopes: tuple[str, ...],
        lifetime_s: float | None = None,
    ) -> dict[str, Any]:
        """Mint an access + refresh token pair; returns Twitch's token response body."""
        lifetime = self.config.token_lifetime_s if lifetime_s is None else lifetime_s
        access = AccessToken(_random_token(30), client_id, user_id, scopes, self.clock() + lifetime)
        refresh = RefreshToken(_random_token(50), client_id, user_id, scopes)
        self.access_tokens[access.value] = access
        self.refresh_tokens[refresh.value] = refresh
        self.access_by_user[user_id].append(access)
        self.refresh_by_user[user_id].append(refresh)
        return {
            "access_token": access.value,
            "expires_in": int(lifetime),
            "refresh_token": refresh.value,
            "scope": list(scopes),
            "token_type": "bearer",
        }

    def issue_app_token(self, client_id: str, client_secret: str | None) -> dict[str, Any]:
        client = self.client(client_id)
        if client.client_secret is None:
            raise OAuthRefusal(400, "public clients cannot use client_credentials")
        self._check_secret(client, client_secret)
        lifetime = self.config.app_token_lifetime_s
        access = AccessToken(_random_token(30), client_id, None, (), self.clock() + lifetime)
        self.access_tokens[access.value] = access
        return {"access_token": access.value, "expires_in": int(lifetime), "token_type": "bearer"}

    # -- authorization code grant ----------------------------------------------------------

    def check_authorize_request(
        self, client_id: str | None, redirect_uri: str | None, response_type: str | None
    ) -> RegisteredApp:
        """Errors Twitch shows on its own page instead of redirecting back."""
        client = self.client(client_id)
        if not redirect_uri or redirect_uri not in client.redirect_uris:
            raise OAuthRefusal(400, "Parameter redirect_uri does not match registered URI")
        if response_type != "code":
            raise OAuthRefusal(400, "unsupported response_type; the simulator supports 'code'")
        return client

    def create_auth_code(
        self, client_id: str, redirect_uri: str, user_id: str, scopes: tuple[str, ...]
    ) -> str:
        code = AuthCode(
            _random_token(30),
            client_id,
            redirect_uri,
            user_id,
            scopes,
            self.clock() + self.config.auth_code_lifetime_s,
        )
        self.auth_codes[code.value] = code
        return code.value

    def exchange_code(
        self, client_id: str, client_secret: str | None, code: str, redirect_uri: str | None
    ) -> dict[str, Any]:
        client = self.client(client_id)
        self._check_secret(client, client_secret)
        # Single use: the code is gone whether or not the exchange succeeds.
        grant = self.auth_codes.pop(code, None)
        if grant is None or grant.client_id != client_id or self.clock() >= grant.expires_at:
            raise OAuthRefusal(400, "Invalid authorization code")
        if redirect_uri != grant.redirect_uri:
            raise OAuthRefusal(400, "Parameter redirect_uri does not match registered URI")
        return self.issue_user_token(client_id, grant.user_id, grant.scopes)

    # -- refresh ---------------------------------------------------------------------------

    def refresh(
        self, client_id: str, client_secret: str | None, refresh_token: str
    ) -> dict[str, Any]:
        client = self.client(client_id)
        self._check_secret(client, client_secret)
        grant = self.refresh_tokens.get(refresh_token)
        if grant is None or not grant.usable or grant.client_id != client_id:
            raise OAuthRefusal(400, "Invalid refresh token")
        grant.usable = False  # single use: the response carries its replacement
        return self.issue_user_token(client_id, grant.user_id, grant.scopes)

    # -- device code grant -----------------------------------------------------------------

    def start_device_flow(
        self, client_id: str, scopes: tuple[str, ...], activate_url: str
    ) -> dict[str, Any]:
        self.client(client_id)
        user_code = "".join(secrets.choice(string.ascii_uppercase) for _ in range(8))
        device = DeviceCode(
            _random_token(40),
            user_code,
            client_id,
            scopes,
            self.clock() + self.config.device_code_lifetime_s,
            self.config.device_poll_interval_s,
        )
        self.device_codes[device.device_code] = device
        return {
            "device_code": device.device_code,
            "expires_in": int(self.config.device_code_lifetime_s),
            "interval": self.config.device_poll_interval_s,
            "user_code": user_code,
            "verification_uri": f"{activate_url}?public=true&device-code={user_code}",
        }

    def pending_device(self, user_code: str) -> DeviceCode:
        for device in self.device_codes.values():
            matches = device.user_code == user_code.upper() and device.status == "pending"
            if matches and self.clock() < device.expires_at:
                return device
        raise OAuthRefusal(404, f"no pending device code with user code {user_code!r}")

    def decide_device(self, user_code: str, user_id: str | None) -> None:
        """Approve as `user_id`, or deny when it is None."""
        device = self.pending_device(user_code)
        device.status = "approved" if user_id is not None else "denied"
        device.user_id = user_id

    def poll_device(
        self, client_id: str, device_code: str, auto_approve_as: str | None
    ) -> dict[str, Any]:
        """One poll of the token endpoint; `auto_approve_as` is the user id to approve as
        once the configured number of polls is reached (None: never auto-approve)."""
        self.client(client_id)
        device = self.device_codes.get(device_code)
        now = self.clock()
        if device is None or device.client_id != client_id or now >= device.expires_at:
            self.device_codes.pop(device_code, None)
            raise OAuthRefusal(400, "invalid device code")
        too_soon = device.last_poll is not None and now - device.last_poll < device.interval
        device.last_poll = now
        if too_soon:
            device.interval += self.config.device_slow_down_step_s
            raise OAuthRefusal(400, "slow_down")
        device.polls += 1
        threshold = self.config.device_auto_approve_after_polls
        if device.status == "pending" and threshold is not None and device.polls >= threshold:
            device.status = "denied" if auto_approve_as is None else "approved"
            device.user_id = auto_approve_as
        if device.status == "pending":
            raise OAuthRefusal(400, "authorization_pending")
        del self.device_codes[device_code]  # one-time use
        if device.status == "denied" or device.user_id is None:
            raise OAuthRefusal(400, "access_denied")
        return self.issue_user_token(client_id, device.user_id, device.scopes)

    # -- using tokens ----------------------------------------------------------------------

    def valid_token(self, value: str | None) -> AccessToken | None:
        token = self.access_tokens.get(value or "")
        if token is None or not token.is_valid(self.clock()):
            return None
        return token

    def validate(self, value: str | None) -> dict[str, Any]:
        """The /oauth2/validate body; app tokens have no login or user_id."""
        token = self.valid_token(value)
        if token is None:
            raise OAuthRefusal(401, "invalid access token")
        body: dict[str, Any] = {"client_id": token.client_id, "scopes": list(token.scopes)}
        if token.user_id is not None:
            body["login"] = self.login_of(token.user_id)
            body["user_id"] = token.user_id
        body["expires_in"] = max(0, int(token.expires_at - self.clock()))
        return body

    def revoke(self, client_id: str | None, value: str | None) -> None:
        """/oauth2/revoke: 404 for an unknown client, 400 for an unknown token."""
        if client_id not in self.clients:
            raise OAuthRefusal(404, "client does not exist")
        token = self.access_tokens.get(value or "")
        if token is None or token.client_id != client_id or token.status == "revoked":
            raise OAuthRefusal(400, "Invalid token")
        token.status = "revoked"

    def find(self, value: str) -> AccessToken:
        token = self.access_tokens.get(value)
        if token is None:
            raise OAuthRefusal(404, "no such access token")
        return token

    def tokens_of_user(self, user_id: str) -> list[AccessToken]:
        return list(self.access_by_user.get(user_id, ()))

    def clients_granted_by(self, user_id: str) -> set[str]:
        """The clients this user has a live grant with: an active access token, or a refresh
        token that can still mint one."""
        access = self.access_by_user.get(user_id, ())
        clients = {t.client_id for t in access if t.status == "active"}
        clients |= {r.client_id for r in self.refresh_by_user.get(user_id, ()) if r.usable}
        return clients

    def revoke_user(self, user_id: str) -> int:
        """The user disconnects the app: every access and refresh token of theirs dies."""
        count = 0
        for token in self.access_by_user.get(user_id, ()):
            if token.status == "active":
                token.status = "revoked"
                count += 1
        for refresh in self.refresh_by_user.get(user_id, ()):
            refresh.usable = False
        return count

    def has_authorized(self, client_id: str, user_id: str) -> bool:
        """True if the user granted this client any token that is still alive."""
        return any(
            t.client_id == client_id and t.status == "active"
            for t in self.access_by_user.get(user_id, ())
        )

    def granted_scope(self, client_id: str, user_id: str, scope: str) -> bool:
        """True if the user granted `scope` to this client (for app-token chat rules)."""
        return any(
            t.client_id == client_id and t.status == "active" and scope in t.scopes
            for t in self.access_by_user.get(user_id, ())
        )

    def describe_tokens(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [token.describe(now) for token in self.access_tokens.values()]
