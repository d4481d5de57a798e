"""Assertions and fixtures' helpers for the Helix write-endpoint conformance tests."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.simulator.helpers import control

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
}


def assert_ratelimit_headers(response: httpx.Response) -> None:
    """Every Helix answer, success or error, carries the bucket's three headers."""
    assert int(response.headers["Ratelimit-Limit"]) == 800
    assert 0 <= int(response.headers["Ratelimit-Remaining"]) < 800
    assert int(response.headers["Ratelimit-Reset"]) >= int(time.time())  # a Unix epoch


def assert_helix_error(response: httpx.Response, status: int) -> None:
    """Twitch's error body {"error": <status text>, "status", "message"}, and the headers."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == _REASONS[status] and body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert_ratelimit_headers(response)


class FakeClock:
    """Stands in for `state.activity.clock` so cooldowns pass without waiting."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def go_live(sim: Any, user: str = "broadcaster", viewers: int = 1) -> dict[str, Any]:
    async with control(sim) as api:
        response = await api.post(
            f"/channels/{user}/live", json={"live": True, "viewer_count": viewers}
        )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def actions(sim: Any, kind: str | None = None) -> list[dict[str, Any]]:
    async with control(sim) as api:
        response = await api.get("/actions", params={"kind": kind} if kind else None)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def token_for(sim: Any, user: str = "broadcaster", scopes: list[str] | None = None) -> str:
    return str((await sim.issue_token(user, scopes))["access_token"])
