"""The Helix client every call to api.twitch.tv goes through (gateway and workers alike).

Each request carries Client-Id and the TokenManager's bearer token. Policy, once per request:
calls are paced to the token's rate-limit bucket (tokens.pacing);
a 401 refreshes the token (single-flight) and retries; a 429 waits until `Ratelimit-Reset`
(at most RATE_LIMIT_MAX_WAIT_S, logged) and retries; a 5xx or network error retries. Anything
else, or a second failure, raises a typed `tokens.errors.HelixError`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import httpx

from core.settings import Settings
from tokens.constants import RATE_LIMIT_MAX_WAIT_S, USERS_PER_REQUEST
from tokens.errors import ChatMessageDropped, HelixServerError, helix_error_for
from tokens.oauth import require_client_id
from tokens.pacing import Pacer

logger = logging.getLogger("streamcore.helix")

Params = Sequence[tuple[str, str]]


class TokenSource(Protocol):
    """Where the bearer token comes from: the user's (TokenManager) or the app's (AppTokens)."""

    @property
    def user_id(self) -> str | None: ...

    async def access_token(self) -> str: ...

    async def refresh(self, after_401_with: str | None = None) -> str: ...


class HelixClient:
    """Typed Helix calls; `request` is the general entry point, the rest are conveniences."""

    def __init__(
        self,
        settings: Settings,
        token_manager: TokenSource,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._tokens = token_manager
        self._http = http
        self._base = settings.twitch_api_url
        self._clock = clock
        self._sleep = sleep
        #: Keeps this token's calls within its rate-limit bucket (tokens.pacing).
        self.pacer = Pacer(sleep=sleep)

    def __repr__(self) -> str:
        return f"HelixClient(base={self._base!r})"

    async def own_user_id(self) -> str:
        """The token's user (learned on first use of the token)."""
        await self._tokens.access_token()
        user_id = self._tokens.user_id
        if not user_id:
            raise HelixServerError("the token's user is unknown yet; retry", 0, "no user")
        return user_id

    async def request(
        self, method: str, path: str, *, params: Params = (), json: Any = None
    ) -> httpx.Response:
        """Send one Helix request (`path` without `/helix/`) under the retry policy above."""
        path = path.lstrip("/")
        client_id = require_client_id(self._settings)
        token = await self._tokens.access_token()
        retried_401 = retried_429 = retried_5xx = False
        while True:
            await self.pacer.before()
            try:
                response = await self._http.request(
                    method,
                    f"{self._base}/{path}",
                    params=list(params),
                    json=json,
                    headers={"Client-Id": client_id, "Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as error:
                self.pacer.after({})
                if not retried_5xx:
                    retried_5xx = True
                    continue
                raise HelixServerError(
                    f"Cannot reach Twitch for {method} /{path} ({type(error).__name__}); check "
                    "the network and TWITCH_API_URL, then retry.",
                    0,
                    type(error).__name__,
                ) from None
            self.pacer.after(response.headers)
            status = response.status_code
            if status == 401 and not retried_401:
                retried_401 = True
                token = await self._tokens.refresh(after_401_with=token)
                continue
            if status == 429 and not retried_429:
                retried_429 = True
                await self._wait_for_reset(method, path, response)
                continue
            if status >= 500 and not retried_5xx:
                retried_5xx = True
                continue
            if status >= 400:
                raise helix_error_for(method, path, status, _body(response), _reset_at(response))
            return response

    async def _wait_for_reset(self, method: str, path: str, response: httpx.Response) -> None:
        reset_at = _reset_at(response)
        wait = 1.0 if reset_at is None else reset_at - self._clock()
        wait = max(0.0, min(wait, RATE_LIMIT_MAX_WAIT_S))
        logger.warning(
            "Twitch rate limit hit on %s /%s (%s); waiting %.1f s for the bucket to refill",
            method,
            path,
            _body(response).get("message", "429"),
            wait,
        )
        await self._sleep(wait)

    # -- EventSub ------------------------------------------------------------------------------

    async def create_eventsub_subscription(
        self, type: str, version: str, condition: dict[str, Any], transport: dict[str, Any]
    ) -> dict[str, Any]:
        """Create a subscription; returns the created subscription object (`data[0]`)."""
        body = {"type": type, "version": version, "condition": condition, "transport": transport}
        response = await self.request("POST", "eventsub/subscriptions", json=body)
        data: dict[str, Any] = response.json()["data"][0]
        return data

    async def delete_eventsub_subscription(self, id: str) -> None:
        await self.request("DELETE", "eventsub/subscriptions", params=[("id", id)])

    async def list_eventsub_subscriptions(
        self, status: str | None = None, type: str | None = None
    ) -> list[dict[str, Any]]:
        """Every subscription (all pages). Twitch filters by one field per request, so with both
        filters `type` goes to Twitch and `status` is applied here."""
        base: list[tuple[str, str]] = []
        if type is not None:
            base.append(("type", type))
        elif status is not None:
            base.append(("status", status))
        subscriptions: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = base + ([("after", cursor)] if cursor else [])
            body = (await self.request("GET", "eventsub/subscriptions", params=params)).json()
            subscriptions.extend(body.get("data") or [])
            cursor = (body.get("pagination") or {}).get("cursor")
            if not cursor:
                break
        if type is not None and status is not None:
            subscriptions = [s for s in subscriptions if s.get("status") == status]
        return subscriptions

    # -- users and chat --------------------------------------------------------------------

    async def get_users(
        self, ids: Sequence[str] = (), logins: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Users by id and/or login; with neither, the token's own user."""
        params = [("id", i) for i in ids] + [("login", login) for login in logins]
        if not params:
            return list((await self.request("GET", "users")).json().get("data") or [])
        users: list[dict[str, Any]] = []
        for start in range(0, len(params), USERS_PER_REQUEST):
            chunk = params[start : start + USERS_PER_REQUEST]
            users.extend(
                (await self.request("GET", "users", params=chunk)).json().get("data") or []
            )
        return users

    async def send_chat_message(
        self,
        message: str,
        broadcaster_id: str | None = None,
        sender_id: str | None = None,
        reply_parent_message_id: str | None = None,
    ) -> dict[str, Any]:
        """Send a chat message as the token's user (to its own channel unless told otherwise).

        Returns `data[0]` ({"message_id", "is_sent", ...}); raises ChatMessageDropped when
        Twitch accepted the request but did not send the message.
        """
        await self._tokens.access_token()  # learn the token's user before defaulting to it
        own_id = self._tokens.user_id
        body: dict[str, Any] = {
            "broadcaster_id": broadcaster_id or own_id,
            "sender_id": sender_id or own_id,
            "message": message,
        }
        if reply_parent_message_id:
            body["reply_parent_message_id"] = reply_parent_message_id
        result: dict[str, Any] = (await self.request("POST", "chat/messages", json=body)).json()[
            "data"
        ][0]
        if not result.get("is_sent", False):
            reason = result.get("drop_reason") or {}
            raise ChatMessageDropped(
                f"Twitch did not send the chat message ({reason.get('code', 'unknown')}: "
                f"{reason.get('message', 'no reason given')}). Check the channel's chat modes "
                "and AutoMod settings.",
                reason,
            )
        return result


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _reset_at(response: httpx.Response) -> float | None:
    value = response.headers.get("Ratelimit-Reset")
    try:
        return float(value) if value else None
    except ValueError:
        return None
