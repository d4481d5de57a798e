"""Requests on /ws/events against a served StreamCore and the simulator: live subscribe and
unsubscribe, and action calls answered by one system.result frame with the caller's id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from starlette.websockets import WebSocket
from websockets.asyncio.client import ClientConnection, connect

from app.routes.events import _caller
from core.settings import Settings
from events.publisher import EventPublisher
from tests.gateway.test_webhook_transport import Stack, authorize_and_start, stack_on, webhook_world


@asynccontextmanager
async def served(tmp_path: Path) -> AsyncIterator[Stack]:
    async with webhook_world(tmp_path) as (sim, settings), stack_on(sim, settings) as stack:
        await authorize_and_start(stack)
        yield stack


def ws_url(stack: Stack, query: str = "") -> str:
    return stack.base.replace("http", "ws", 1) + "/ws/events" + (f"?{query}" if query else "")


async def request(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    """Send a request and return its system.result (other frames are skipped)."""
    await ws.send(json.dumps(message))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if frame["event"] == "system.result" and frame["data"]["id"] == message.get("id"):
            data: dict[str, Any] = frame["data"]
            return data


async def next_alert(ws: ClientConnection, within_s: float = 5) -> str | None:
    try:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), within_s))
            if frame["event"].startswith("alert."):
                return str(frame["event"])
    except TimeoutError:
        return None


async def grant_chat(stack: Stack) -> None:
    answer = await stack.api.post("/actions/chat.send", json={"message": "first"})
    if answer.status_code == 200:
        return  # a worker needs the scope already (the commands worker does)
    auth_url = answer.json()["error"]["auth_url"]
    async with httpx.AsyncClient() as browser:
        approval = await browser.get(auth_url, follow_redirects=False)
    callback = httpx.URL(approval.headers["location"])
    done = await stack.api.get(f"/tokens/callback?{callback.query.decode()}")
    assert done.status_code in (200, 303), done.text


async def test_subscribe_and_unsubscribe_change_what_arrives(tmp_path: Path) -> None:
    async with served(tmp_path) as stack:
        publisher = EventPublisher(stack.app.state.services.bus)
        async with connect(ws_url(stack, "events=alert.follow")) as ws:
            added = await request(ws, {"op": "subscribe", "id": "s1", "events": ["alert.cheer"]})
            assert added == {
                "id": "s1",
                "ok": True,
                "result": {"events": ["alert.follow", "alert.cheer"]},
            }
            await publisher.publish("alert.cheer", {})
            assert await next_alert(ws) == "alert.cheer"
            removed = await request(
                ws, {"op": "unsubscribe", "id": "s2", "events": ["alert.follow"]}
            )
            assert removed["result"] == {"events": ["alert.cheer"]}
            await publisher.publish("alert.follow", {})
            await publisher.publish("alert.cheer", {})
            assert await next_alert(ws) == "alert.cheer"  # the follow was not sent
            bad = await request(ws, {"op": "subscribe", "id": "s3", "events": "a b c d [["})
            assert bad["ok"] is False and bad["error"]["code"] == "invalid_args"


async def test_calls_are_answered_with_their_id(tmp_path: Path) -> None:
    async with served(tmp_path) as stack:
        await grant_chat(stack)
        async with connect(ws_url(stack)) as ws:
            sent = await request(
                ws, {"op": "call", "id": "c1", "action": "chat.send", "args": {"message": "hi"}}
            )
            assert sent["ok"] is True and sent["result"]["is_sent"] is True
            bad = await request(ws, {"op": "call", "id": 7, "action": "chat.send", "args": {}})
            assert bad["id"] == 7 and bad["error"]["code"] == "invalid_args"
            unknown = await request(ws, {"op": "call", "id": "c3", "action": "nope"})
            assert unknown["error"]["code"] == "unknown_action"
        # A key without actions may listen but not call; a page of another site neither.
        created = await stack.api.post("/keys", json={"name": "overlay"})
        key = created.json()["key"]
        async with connect(ws_url(stack, f"key={key}")) as ws:
            refused = await request(
                ws, {"op": "call", "id": "k", "action": "chat.send", "args": {"message": "x"}}
            )
            assert refused["error"]["code"] == "forbidden"
        async with connect(ws_url(stack), origin="http://evil.example") as ws:  # type: ignore[arg-type]
            refused = await request(
                ws, {"op": "call", "id": "e", "action": "chat.send", "args": {"message": "x"}}
            )
            assert refused["error"]["code"] == "forbidden"


def _socket(headers: dict[str, str]) -> WebSocket:
    scope = {
        "type": "websocket",
        "path": "/ws/events",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    return WebSocket(scope, receive=_never, send=_never)


async def _never(*_: Any) -> Any:
    raise AssertionError("not used")


def test_a_keyless_local_client_acts_only_with_the_admin_token_when_one_is_set() -> None:
    """The control surface needs STREAMCORE_ADMIN_TOKEN when it is set; calling actions from a
    keyless local socket does too (sent as a Bearer token), while listening stays open."""
    open_settings = Settings(_env_file=None)  # type: ignore[call-arg]
    guarded = Settings(_env_file=None, streamcore_admin_token=SecretStr("s3cret-admin-token-0123"))  # type: ignore[call-arg]
    assert _caller(_socket({}), None, open_settings).may_call("chat.send")
    listener = _caller(_socket({}), None, guarded)
    assert not listener.may_call("chat.send")
    assert "s3cret" not in listener.label
    wrong = _caller(_socket({"Authorization": "Bearer nope"}), None, guarded)
    assert not wrong.may_call("chat.send")
    bearer = _caller(_socket({"Authorization": "Bearer s3cret-admin-token-0123"}), None, guarded)
    assert bearer.may_call("chat.send")
    cross_site = {"Origin": "http://evil.example", "Host": "127.0.0.1:8000"}
    assert not _caller(_socket(cross_site), None, open_settings).may_call("chat.send")
