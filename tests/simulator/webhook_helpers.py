"""A real webhook callback for the simulator tests: a Starlette app served by uvicorn on a
loopback port, recording every request exactly as it arrived (headers and raw body bytes).

It answers a challenge as Twitch asks (200, the raw challenge, text/plain) unless told to
answer otherwise, and a notification or revocation with 200 unless `statuses` holds the next
answers. Nothing here is StreamCore code: the signature is checked with `hmac` directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.polling import eventually
from tests.simulator.helpers import WAIT_S

SECRET = "s3cr3t-for-the-simulator-tests"
#: RFC3339 with nanoseconds and a Z, like Twitch's `2019-11-16T10:11:12.634234626Z`.
RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
HEADERS = (
    "twitch-eventsub-message-id",
    "twitch-eventsub-message-retry",
    "twitch-eventsub-message-type",
    "twitch-eventsub-message-signature",
    "twitch-eventsub-message-timestamp",
)
SUBSCRIPTION_HEADERS = ("twitch-eventsub-subscription-type", "twitch-eventsub-subscription-version")


@dataclass
class Received:
    """One request as the callback saw it."""

    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def message_type(self) -> str:
        return self.headers["twitch-eventsub-message-type"]

    @property
    def message_id(self) -> str:
        return self.headers["twitch-eventsub-message-id"]

    @property
    def retry(self) -> int:
        return int(self.headers["twitch-eventsub-message-retry"])

    @property
    def timestamp(self) -> str:
        return self.headers["twitch-eventsub-message-timestamp"]

    def signature_ok(self, secret: str = SECRET) -> bool:
        """Twitch's check: HMAC-SHA256 over id + timestamp + raw body, `sha256=` lowercase hex."""
        signed = self.message_id.encode() + self.timestamp.encode() + self.body
        expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers["twitch-eventsub-message-signature"])


class Callback:
    """The recording callback. Steer it with `challenge_answer`, `statuses` and `delay_s`."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        #: How to answer a challenge: takes the challenge string, returns the response.
        self.challenge_answer: Callable[[str], Response] = lambda c: PlainTextResponse(c)
        #: The next answers to notifications and revocations (then 200).
        self.statuses: deque[int] = deque()
        #: Wait this long before answering anything.
        self.delay_s = 0.0
        self.port = 0
        self.in_flight = self.max_in_flight = 0

    def url(self, path: str = "/eventsub") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        received = Received(request.url.path, dict(request.headers), body)
        self.received.append(received)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        if received.message_type == "webhook_callback_verification":
            return self.challenge_answer(received.json["challenge"])
        status = self.statuses.popleft() if self.statuses else 200
        return JSONResponse({"status": status}, status_code=status)

    def of_type(self, message_type: str) -> list[Received]:
        return [r for r in self.received if r.message_type == message_type]

    async def wait_for(self, message_type: str, count: int = 1) -> list[Received]:
        """The first `count` requests of this type, once they have all arrived."""

        def arrived() -> list[Received]:
            received = self.of_type(message_type)
            return received[:count] if len(received) >= count else []

        return await eventually(arrived, what=f"{count} {message_type} request(s) at the callback")


@asynccontextmanager
async def callback_server() -> AsyncIterator[Callback]:
    """A Callback served on 127.0.0.1 at a free port until the block ends."""
    callback = Callback()
    app = Starlette(routes=[Route("/{path:path}", callback.handle, methods=["POST"])])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started or task.done(), what="the callback server up")
        if task.done():
            task.result()
        callback.port = server.servers[0].sockets[0].getsockname()[1]
        yield callback
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, WAIT_S)


def webhook_body(sub_type: str, condition: dict[str, str], callback: str, **extra: Any) -> dict:
    transport = {"method": "webhook", "callback": callback, "secret": SECRET, **extra}
    return {"type": sub_type, "version": "1", "condition": condition, "transport": transport}


async def subscribe_webhook(
    api: httpx.AsyncClient, callback: str, channel: str, **transport: Any
) -> httpx.Response:
    """Create Subscription: stream.online for `channel` on the webhook `callback`."""
    body = webhook_body("stream.online", {"broadcaster_user_id": channel}, callback, **transport)
    return await api.post("/eventsub/subscriptions", json=body)


async def status_of(api: httpx.AsyncClient, sub_id: str) -> str:
    response = await api.get("/eventsub/subscriptions", params={"subscription_id": sub_id})
    assert response.status_code == 200, response.text
    return str(response.json()["data"][0]["status"])


async def wait_status(api: httpx.AsyncClient, sub_id: str, status: str) -> None:
    async def reached() -> bool:
        return await status_of(api, sub_id) == status

    await eventually(reached, what=f"subscription {sub_id} {status}")


@asynccontextmanager
async def enabled_webhook(
    sim: Any, api: httpx.AsyncClient, channel: str
) -> AsyncIterator[tuple[Callback, str]]:
    """A callback with one verified stream.online subscription: (callback, subscription id)."""
    async with callback_server() as callback:
        response = await subscribe_webhook(api, callback.url(), channel)
        assert response.status_code == 202, response.text
        sub_id = str(response.json()["data"][0]["id"])
        await wait_status(api, sub_id, "enabled")
        yield callback, sub_id
