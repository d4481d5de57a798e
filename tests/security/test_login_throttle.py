"""Item 11a: failed dashboard logins are throttled per client address (5 a minute, then 429
with Retry-After); a successful login starts the count again."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.security.conftest import ADMIN_TOKEN, LOCAL, http, serving

WRONG = "not-the-admin-token-0123456789"


async def _attempt(api: httpx.AsyncClient, token: str) -> httpx.Response:
    return await api.post("/dashboard/login", data={"token": token}, headers={"Origin": LOCAL})


async def test_five_failures_then_429_with_retry_after_even_for_the_right_token(
    tmp_path: Path,
) -> None:
    async with (
        serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app,
        http(app, client=("127.0.0.1", 1)) as guesser,
        http(app, client=("127.0.0.2", 1)) as neighbour,
    ):
        failures = [(await _attempt(guesser, WRONG)).status_code for _ in range(5)]
        blocked = await _attempt(guesser, WRONG)
        right_but_blocked = await _attempt(guesser, ADMIN_TOKEN)
        other_address = await _attempt(neighbour, ADMIN_TOKEN)
    assert failures == [401] * 5
    for response in (blocked, right_but_blocked):
        assert response.status_code == 429
        assert 1 <= int(response.headers["retry-after"]) <= 60
        assert "Too many failed attempts" in response.text
        assert "set-cookie" not in response.headers
    assert other_address.status_code == 303


async def test_a_successful_login_resets_the_count(tmp_path: Path) -> None:
    async with (
        serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app,
        http(app) as api,
    ):
        before = [(await _attempt(api, WRONG)).status_code for _ in range(4)]
        success = await _attempt(api, ADMIN_TOKEN)
        after = [(await _attempt(api, WRONG)).status_code for _ in range(5)]
        sixth = await _attempt(api, WRONG)
    assert before == [401] * 4
    assert success.status_code == 303
    assert after == [401] * 5  # 9 failures in all, but the count started again
    assert sixth.status_code == 429
