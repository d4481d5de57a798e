"""`POST {STREAMCORE_EVENTSUB_CALLBACK_PATH}`: where Twitch delivers webhook notifications.

Served ahead of the middleware chain, like `/ws/events`: Twitch's requests are authenticated
by their signature, not by the admin token or an Origin, and the path is hot (every event of
the channel), so each layer skipped is time saved. The checks the chain would make are made
here, in this order: method, Host allowlist, body size (Content-Length, then while reading),
before anything else reads a byte; then `gateway.webhook_intake` verifies and hands off.
"""

from __future__ import annotations

import json
import logging

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send

from app.deps import find_services
from app.origins import HostPolicy
from core.settings import Settings
from gateway.webhook_intake import Answer

logger = logging.getLogger("streamcore")

#: Twitch's notifications are a few KiB (chat messages with fragments the largest); anything
#: far larger is not Twitch's and is refused before it is read.
MAX_WEBHOOK_BODY_BYTES = 256 * 1024


#: Host headers whose verdict is remembered (the verdict depends on the header alone); a
#: callback sees one or two, so the memo stays tiny unless someone sends many: then it restarts.
HOST_MEMO_SIZE = 64


class WebhookReceiver:
    def __init__(self, settings: Settings) -> None:
        self.path = settings.streamcore_eventsub_callback_path
        self._hosts = HostPolicy(settings)
        self._host_verdicts: dict[str | None, bool] = {}

    def _host_allowed(self, host: str | None) -> bool:
        """`HostPolicy.host_allowed`, remembered: it parses the name (URL split, IP address)
        on every call, a noticeable part of a notification's cost."""
        verdict = self._host_verdicts.get(host)
        if verdict is None:
            if len(self._host_verdicts) >= HOST_MEMO_SIZE:
                self._host_verdicts.clear()
            verdict = self._host_verdicts[host] = self._hosts.host_allowed(host)
        return verdict

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        if scope["method"] != "POST":
            await _answer(send, _error(405, "method_not_allowed", "POST only"))
            return
        if not self._host_allowed(headers.get("host")):
            await _answer(send, _error(400, "unknown_host", "unknown Host"))
            return
        body = await _read_body(headers, receive)
        if body is None:
            limit = MAX_WEBHOOK_BODY_BYTES
            await _answer(send, _error(413, "body_too_large", f"over {limit} bytes"))
            return
        services = find_services(HTTPConnection(scope))
        intake = services.webhook if services is not None else None
        if intake is None:
            answer = _error(503, "starting", "not ready yet; retry", retry_after="2")
        else:
            client = scope.get("client")
            peer = f"{client[0]}" if client else "unknown"
            # What dict(headers.items()) makes (the last of repeated names wins), built
            # straight from the raw list.
            named = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers.raw}
            answer = await intake.take(named, body, peer)
        await _answer(send, answer)


async def _read_body(headers: Headers, receive: Receive) -> bytes | None:
    """The body, or None when it is (or grows) larger than MAX_WEBHOOK_BODY_BYTES."""
    try:
        if int(headers.get("content-length", "0")) > MAX_WEBHOOK_BODY_BYTES:
            return None
    except ValueError:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_WEBHOOK_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _error(status: int, code: str, message: str, retry_after: str | None = None) -> Answer:
    body = json.dumps({"error": code, "message": message}).encode()
    return Answer(status, "application/json", body, retry_after)


async def _answer(send: Send, answer: Answer) -> None:
    headers = [(b"content-length", str(len(answer.body)).encode())]
    if answer.content_type is not None:
        headers.append((b"content-type", answer.content_type.encode()))
    if answer.retry_after is not None:
        headers.append((b"retry-after", answer.retry_after.encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
