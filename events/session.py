"""One `WS /ws/events` client from its accepted handshake to its close.

The route (app.routes.events) decides who may connect and with which key scope; this module
does the rest:
- Bad `events` or `since`: close 4000 with a reason.
- Replay then live (events.replay), then one JSON text frame per matching event.
- Fairness: bounded per-client buffer, 4008 "too slow" on overflow (events.clients).
- Inbound: size- and rate-limited, JSON objects only, 1008 otherwise (events.inbound).
- Liveness: the server pings every WS_PING_INTERVAL_S and drops a client that has not answered
  within WS_PING_TIMEOUT_S (uvicorn's keepalive, tuned per connection here; 1011).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, Protocol

from starlette.websockets import WebSocket

from bus import Bus, BusError
from core.constants import EVENTS_LOG_STREAM
from core.settings import Settings
from events.broadcaster import Broadcaster
from events.clients import Client, make_sink, server_protocol
from events.constants import CLOSE_BAD_REQUEST, CLOSE_POLICY, CLOSE_TIMEOUT_S, CLOSE_TRY_AGAIN
from events.errors import EventsError
from events.filters import EventFilter, combine
from events.frames import Outgoing
from events.inbound import InboundPolicy
from events.publisher import now_iso
from events.replay import parse_since, plan_replay, truncated_notice

__all__ = ["ClientRequests", "refuse", "result_frame", "serve_client"]

logger = logging.getLogger("streamcore.events")


class ClientRequests(Protocol):
    """What a client asks on its socket (`subscribe`, `unsubscribe`, `call`): the app layer
    implements it (it knows the actions and who may call them). `handle` must not block the
    reader: a call runs in the background and answers with `result_frame`."""

    def attach(self, client: Client, scope: EventFilter, requested: EventFilter) -> None: ...

    async def handle(self, message: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


NO_REQUESTS = {"code": "unsupported", "message": "this server takes no requests"}
FRAMES_RATE_LIMITED = {
    "code": "rate_limited",
    "message": "too many frames on this socket (WS_INBOUND_RATE, WS_INBOUND_BURST); slow down",
}


def result_frame(
    message: dict[str, Any], result: Any, error: dict[str, Any] | None = None
) -> Outgoing:
    """`system.result` for the request `message` (its `id` echoed): ok with `result`, or not
    with `error` ({"code", "message", ...}). For this client only, so it has no id."""
    request_id = message.get("id")
    data: dict[str, Any] = {"id": request_id if isinstance(request_id, str | int) else None}
    if error is None:
        data.update(ok=True, result=result)
    else:
        data.update(ok=False, error=error)
    text = (
        f'{{"event":"system.result","data":{json.dumps(data, separators=(",", ":"))},'
        f'"id":null,"ts":"{now_iso()}"}}'
    )
    return Outgoing("system.result", None, text)


async def refuse(websocket: WebSocket, code: int, reason: str) -> None:
    """Accept, then close at once with `code` and `reason` (browsers cannot read a refused
    handshake's reason, but they can read a close frame's)."""
    await websocket.accept()
    await websocket.close(code, reason)


async def serve_client(
    websocket: WebSocket,
    *,
    scope: EventFilter,
    broadcaster: Broadcaster,
    bus: Bus,
    settings: Settings,
    key_id: str | None = None,
    channels: frozenset[str] | None = None,
    requests: ClientRequests | None = None,
) -> None:
    """Serve one client whose access is settled; `scope` is what its key (`key_id`) may
    receive, `channels` the ids of the channels whose events it gets (None: every one)."""
    query = websocket.query_params
    try:
        requested = EventFilter.parse(query.get("events"))
        since_text = query.get("since") or None
        since = parse_since(since_text) if since_text else None
    except EventsError as error:
        await refuse(websocket, CLOSE_BAD_REQUEST, str(error)[:120])
        return

    protocol = server_protocol(websocket)
    if protocol is not None and hasattr(protocol, "ping_interval"):
        # uvicorn starts its keepalive on accept from these attributes.
        protocol.ping_interval = settings.ws_ping_interval_s
        protocol.ping_timeout = settings.ws_ping_timeout_s
    await websocket.accept()
    # uvicorn's websockets-sansio protocol keeps the parsed handshake (request and response,
    # with their headers: ~2 KB) for the whole connection but never reads it after the accept.
    # Only that implementation: the others may use attributes of these names differently.
    if protocol is not None and type(protocol).__name__ == "WebSocketsSansIOProtocol":
        protocol.request = None
        protocol.response = None
    peer = websocket.client
    client = Client(
        make_sink(websocket),
        combine(scope, requested),
        settings.ws_client_buffer,
        settings.ws_client_buffer_bytes,
        label=f"{peer.host}:{peer.port}" if peer else "client",
        replaying=since is not None,
        channels=channels,
    )
    client.key_id = key_id
    broadcaster.add(client)
    if requests is not None:
        requests.attach(client, scope, requested)
    reader = asyncio.create_task(_read_inbound(websocket, client, settings, requests))
    code: int | None = None
    reason = ""
    try:
        if since is not None and since_text is not None:
            await _replay(bus, broadcaster.replay_slots, settings, client, since_text, since)
        code, reason = await client.close_request
    except (ConnectionError, OSError, RuntimeError):
        code = None
    finally:
        broadcaster.remove(client)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        if requests is not None:
            await requests.close()
        await client.stop()
    if code is not None:
        try:
            await asyncio.wait_for(websocket.close(code, reason[:120]), CLOSE_TIMEOUT_S)
        except (TimeoutError, RuntimeError, OSError):
            client.sink.abort()


async def _replay(
    bus: Bus,
    slots: asyncio.Semaphore,
    settings: Settings,
    client: Client,
    since_text: str,
    since: tuple[int, int],
) -> None:
    """Send what the log holds after `since`, then let the held live events through.

    The log is read under one of the process's replay slots (WS_REPLAY_CONCURRENCY): a
    reconnect storm of many clients queues for them instead of emptying Redis' connection
    pool, and the events are sent after the slot is given back. A bus error closes the client
    with 1013 ("try again later"), and it resumes with the same `since`.
    """
    try:
        async with slots:
            after = await bus.read_range(EVENTS_LOG_STREAM, f"({since[0]}-{since[1]}", "+")
            oldest = await bus.read_range(EVENTS_LOG_STREAM, "-", "+", count=1)
    except BusError as error:
        logger.warning("Replay for %s failed: %s", client.label, error)
        client.request_close(CLOSE_TRY_AGAIN, "the event log is unavailable; try again")
        return
    horizon_ms = int(time.time() * 1000) - settings.events_retention_seconds * 1000
    plan = plan_replay(since, after, oldest[0] if oldest else None, horizon_ms)
    if plan.truncated and since != (0, 0):
        await client.send_now(truncated_notice(since_text, plan.oldest))
    last = since
    for event in plan.events:
        last = event.key
        if client.closing:
            return
        if client.accepts(event):
            await client.send_now(event)
    client.go_live(last)


async def _read_inbound(
    websocket: WebSocket, client: Client, settings: Settings, requests: ClientRequests | None
) -> None:
    loop = asyncio.get_running_loop()
    policy = InboundPolicy(
        settings.ws_inbound_max_bytes,
        settings.ws_inbound_rate,
        settings.ws_inbound_burst,
        loop.time(),
    )
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            client.request_close(None, "client disconnected")
            return
        verdict = policy.check(message.get("text"), message.get("bytes"), loop.time())
        if verdict.close_reason is not None:
            client.request_close(CLOSE_POLICY, verdict.close_reason)
            return
        if verdict.request is not None:
            if verdict.limited:
                client.offer(result_frame(verdict.request, None, FRAMES_RATE_LIMITED))
            elif requests is None:
                client.offer(result_frame(verdict.request, None, NO_REQUESTS))
            else:
                await requests.handle(verdict.request)
            continue
        if verdict.reply == "pong":
            pong = f'{{"event":"system.pong","data":{{}},"id":null,"ts":"{now_iso()}"}}'
            client.offer(Outgoing("system.pong", None, pong))
