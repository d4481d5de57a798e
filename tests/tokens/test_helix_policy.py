"""The Helix client's retry policy and typed results, at the transport seam (no network).

An httpx.MockTransport plays Twitch; a small stand-in plays the TokenManager, so each test
states exactly what Twitch answers and asserts what a caller sees.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from tokens.errors import (
    ChatMessageDropped,
    HelixForbidden,
    HelixRateLimited,
    HelixServerError,
    HelixUnauthorized,
)
from tokens.helix import HelixClient

API = "https://api.example.test/helix"


class StubTokens:
    """What HelixClient needs from a TokenManager: a token, a refresh, the user id."""

    user_id = "1001"

    def __init__(self) -> None:
        self.token = "token-one-0000"
        self.refreshes: list[str | None] = []

    async def access_token(self) -> str:
        return self.token

    async def refresh(self, after_401_with: str | None = None) -> str:
        self.refreshes.append(after_401_with)
        self.token = "token-two-0000"
        return self.token


def make_client(
    tmp_path: Path, handler: Callable[[httpx.Request], httpx.Response]
) -> tuple[HelixClient, StubTokens, list[float]]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, twitch_client_id="cid", twitch_api_url=API, streamcore_data_dir=tmp_path
    )
    tokens = StubTokens()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = HelixClient(settings, tokens, http, clock=lambda: 1000.0, sleep=sleep)
    return client, tokens, slept


def users_body() -> dict[str, object]:
    return {"data": [{"id": "1001", "login": "streamer"}]}


async def test_every_call_carries_client_id_and_bearer_token(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=users_body())

    client, _, _ = make_client(tmp_path, handler)
    assert await client.get_users() == users_body()["data"]
    assert seen[0].headers["Client-Id"] == "cid"
    assert seen[0].headers["Authorization"] == "Bearer token-one-0000"
    assert str(seen[0].url) == f"{API}/users"


async def test_a_401_refreshes_once_and_retries_with_the_new_token(tmp_path: Path) -> None:
    tokens_used: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tokens_used.append(request.headers["Authorization"])
        if request.headers["Authorization"].endswith("one-0000"):
            return httpx.Response(401, json={"status": 401, "message": "Invalid OAuth token"})
        return httpx.Response(200, json=users_body())

    client, tokens, _ = make_client(tmp_path, handler)
    await client.get_users()
    assert tokens.refreshes == ["token-one-0000"]
    assert tokens_used == ["Bearer token-one-0000", "Bearer token-two-0000"]


async def test_a_second_401_raises_unauthorized_without_looping(tmp_path: Path) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(401, json={"status": 401, "message": "Client ID mismatch"})

    client, tokens, _ = make_client(tmp_path, handler)
    with pytest.raises(HelixUnauthorized) as caught:
        await client.get_users()
    assert len(calls) == 2 and len(tokens.refreshes) == 1
    assert "TWITCH_CLIENT_ID" in str(caught.value)


async def test_a_429_waits_until_ratelimit_reset_then_retries(tmp_path: Path) -> None:
    answers = [
        httpx.Response(
            429, json={"message": "Too Many Requests"}, headers={"Ratelimit-Reset": "1007"}
        ),
        httpx.Response(200, json=users_body()),
    ]
    client, _, slept = make_client(tmp_path, lambda request: answers.pop(0))
    assert await client.get_users() == users_body()["data"]
    assert slept == [7.0]  # reset (1007) minus the clock (1000)


async def test_a_429_wait_is_capped_and_a_second_429_raises_with_reset_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"message": "slow"}, headers={"Ratelimit-Reset": "999999"})

    client, _, slept = make_client(tmp_path, handler)
    with pytest.raises(HelixRateLimited) as caught:
        await client.get_users()
    assert slept == [60.0]
    assert caught.value.reset_at == 999999.0
    assert any("rate limit" in r.getMessage() for r in caplog.records)


async def test_a_5xx_is_retried_once(tmp_path: Path) -> None:
    answers = [
        httpx.Response(503, json={"message": "busy"}),
        httpx.Response(200, json=users_body()),
    ]
    client, _, _ = make_client(tmp_path, lambda request: answers.pop(0))
    assert await client.get_users() == users_body()["data"]

    client, _, _ = make_client(tmp_path, lambda request: httpx.Response(500, json={}))
    with pytest.raises(HelixServerError):
        await client.get_users()


async def test_a_network_failure_twice_raises_a_server_error_naming_the_fix(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client, _, _ = make_client(tmp_path, handler)
    with pytest.raises(HelixServerError) as caught:
        await client.get_users()
    assert caught.value.status == 0
    assert "TWITCH_API_URL" in str(caught.value)


async def test_forbidden_names_the_missing_scope(tmp_path: Path) -> None:
    body = {"error": "Forbidden", "status": 403, "message": "missing required scope bits:read"}
    client, _, _ = make_client(tmp_path, lambda request: httpx.Response(403, json=body))
    with pytest.raises(HelixForbidden) as caught:
        await client.create_eventsub_subscription(
            "channel.cheer", "1", {"broadcaster_user_id": "1"}, {"method": "websocket"}
        )
    assert caught.value.missing_scope == "bits:read"


async def test_listing_subscriptions_follows_every_page(tmp_path: Path) -> None:
    pages = {
        None: {"data": [{"id": "a", "status": "enabled"}], "pagination": {"cursor": "c1"}},
        "c1": {
            "data": [{"id": "b", "status": "websocket_disconnected"}],
            "pagination": {"cursor": "c2"},
        },
        "c2": {"data": [{"id": "c", "status": "enabled"}], "pagination": {}},
    }
    queries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        queries.append(str(request.url.params))
        return httpx.Response(200, json=pages[request.url.params.get("after")])

    client, _, _ = make_client(tmp_path, handler)
    subs = await client.list_eventsub_subscriptions()
    assert [s["id"] for s in subs] == ["a", "b", "c"]
    assert queries == ["", "after=c1", "after=c2"]

    queries.clear()
    enabled = await client.list_eventsub_subscriptions(status="enabled", type="channel.follow")
    assert [s["id"] for s in enabled] == ["a", "c"]
    assert queries[0] == "type=channel.follow"  # Twitch takes one filter; status is applied here


async def test_a_dropped_chat_message_raises_with_the_drop_reason(tmp_path: Path) -> None:
    sent: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        reason = {"code": "msg_duplicate", "message": "duplicate message"}
        return httpx.Response(
            200, json={"data": [{"message_id": "", "is_sent": False, "drop_reason": reason}]}
        )

    client, _, _ = make_client(tmp_path, handler)
    with pytest.raises(ChatMessageDropped) as caught:
        await client.send_chat_message("hello")
    assert caught.value.drop_reason["code"] == "msg_duplicate"
    assert b'"broadcaster_id": "1001"' in sent[0] or b'"broadcaster_id":"1001"' in sent[0]
