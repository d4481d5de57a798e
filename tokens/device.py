"""The device code flow (for machines without a browser): polling policy and tracked flows.

`poll_until_authorized` honours `interval`, keeps polling on `authorization_pending`, adds
DEVICE_SLOW_DOWN_S on `slow_down`, stops when the code expires, and treats every other refusal
as final. The CLI (`streamcore auth`) and `POST /tokens/device` both use it.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from tokens.constants import DEVICE_SLOW_DOWN_S, MAX_TRACKED_DEVICE_FLOWS
from tokens.errors import DeviceFlowFailed, OAuthError, TokenError, TwitchUnreachable
from tokens.model import TokenGrant, TokenSet
from tokens.oauth import DeviceCode, DevicePending, TwitchOAuth

logger = logging.getLogger("streamcore.tokens")

#: Called after each unanswered poll with (next interval in s, seconds left before expiry).
ProgressCallback = Callable[[float, float], None]


async def poll_until_authorized(
    oauth: TwitchOAuth,
    code: DeviceCode,
    scopes: list[str],
    *,
    sleep: Callable[[float], Awaitable[None]],
    clock: Callable[[], float] = time.monotonic,
    on_wait: ProgressCallback | None = None,
) -> TokenGrant:
    """Poll /oauth2/token until the user approves; raise DeviceFlowFailed when it cannot."""
    interval = code.interval
    deadline = clock() + code.expires_in
    while True:
        await sleep(interval)
        if clock() >= deadline:
            raise DeviceFlowFailed(
                "The device code expired before it was approved. Start the device flow again "
                "(`streamcore auth` or POST /tokens/device) and approve it within "
                f"{code.expires_in // 60} minutes.",
                400,
                "expired",
            )
        try:
            result = await oauth.poll_device(code.device_code, scopes)
        except TwitchUnreachable as error:
            # A network blip must not lose an approval the user is about to give.
            logger.warning("Device flow poll failed, polling on: %s", error)
            continue
        except OAuthError as error:
            raise DeviceFlowFailed(
                f"Twitch ended the device authorization ({error.message}). Start the device "
                "flow again (`streamcore auth` or POST /tokens/device).",
                error.status,
                error.message,
            ) from None
        if isinstance(result, DevicePending):
            if result.slow_down:
                interval += DEVICE_SLOW_DOWN_S
            if on_wait is not None:
                on_wait(interval, deadline - clock())
            continue
        return result


@dataclass
class DeviceFlow:
    """One device flow started from the dashboard, as `GET /tokens/device/{id}` shows it."""

    id: str
    user_code: str
    verification_uri: str
    expires_in: int
    interval: float
    status: Literal["pending", "authorized", "failed"] = "pending"
    login: str | None = None
    error: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "user_code": self.user_code,
            "verification_uri": self.verification_uri,
            "expires_in": self.expires_in,
            "interval": self.interval,
            "login": self.login,
            "error": self.error,
        }


class DeviceFlows:
    """The device flows the dashboard can ask about; at most MAX_TRACKED_DEVICE_FLOWS, the
    oldest finished one forgotten first (then the oldest pending one)."""

    def __init__(self, limit: int = MAX_TRACKED_DEVICE_FLOWS) -> None:
        self._limit = limit
        self._flows: OrderedDict[str, DeviceFlow] = OrderedDict()

    def track(self, flow: DeviceFlow) -> None:
        self._flows[flow.id] = flow
        while len(self._flows) > self._limit:
            finished = [key for key, f in self._flows.items() if f.status != "pending"]
            del self._flows[finished[0] if finished else next(iter(self._flows))]

    def get(self, flow_id: str) -> DeviceFlow | None:
        return self._flows.get(flow_id)

    async def begin(
        self,
        oauth: TwitchOAuth,
        scopes: list[str],
        *,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float],
        adopt: Callable[[TokenSet], Awaitable[None]],
    ) -> tuple[DeviceFlow, Coroutine[Any, Any, None]]:
        """Ask Twitch for a device code and track the flow; the returned coroutine polls until
        the user approves, then hands the token to `adopt` (run it as a supervised task)."""
        code = await oauth.start_device(scopes)
        flow = DeviceFlow(
            id=secrets.token_urlsafe(9),
            user_code=code.user_code,
            verification_uri=code.verification_uri,
            expires_in=code.expires_in,
            interval=code.interval,
        )
        self.track(flow)

        async def finish() -> None:
            try:
                grant = await poll_until_authorized(oauth, code, scopes, sleep=sleep)
                token = await oauth.identify(grant, clock())
                await adopt(token)
            except TokenError as error:
                flow.status, flow.error = "failed", str(error)
                logger.warning("Device authorization failed: %s", error)
            else:
                flow.status, flow.login = "authorized", token.login

        return flow, finish()
