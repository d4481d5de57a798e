"""HTTP and WebSocket surface of the fan-out: `WS /ws/events`, `GET /events/schema`, `/keys`.

`WS /ws/events?key=&events=&since=`:
- Access: a key (`?key=`, since OBS browser sources cannot set headers) is required when
  StreamCore listens beyond loopback or WS_REQUIRE_AUTH=true; a key that is given is always
  checked. A missing, unknown or revoked key: accept, then close 4001 with a reason; nothing
  else is sent first. A key's scope narrows what the client gets.
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
import logging
import time
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket
from pydantic import BaseModel, Field

from core.access import ADMIN_COOKIE, AdminRequired, admin_token_matches, beyond_loopback
from core.constants import EVENTS_LOG_STREAM
from core.runtime import Runtime
from core.settings import Settings
from events.clients import Client, make_sink, server_protocol
from events.constants import (
    CLOSE_BAD_REQUEST,
    CLOSE_POLICY,
    CLOSE_TIMEOUT_S,
    CLOSE_UNAUTHORIZED,
)
from events.errors import ClientKeyError, EventsError, UnknownKey
from events.filters import ALL_EVENTS, EventFilter, combine
from events.frames import Outgoing
from events.inbound import InboundPolicy
from events.keys import ClientKeys, KeyRecord
from events.publisher import now_iso
from events.replay import parse_since, plan_replay, truncated_notice
from events.schema import event_schema

__all__ = ["EVENTS_SOCKET_PATH", "events_socket", "router"]

#: The fan-out's WebSocket path (also matched by events.asgi, which serves it directly).
EVENTS_SOCKET_PATH = "/ws/events"

logger = logging.getLogger("streamcore.events")
router = APIRouter()


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


# -- HTTP -------------------------------------------------------------------------------------


@router.get("/events/schema", summary="Every event clients can receive")
async def get_event_schema() -> dict[str, Any]:
    return event_schema()


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    events: str = ""


@router.get("/keys", summary="List client keys (never the keys themselves)")
async def list_keys(runtime: RuntimeDep, _: AdminRequired) -> list[dict[str, str]]:
    return [record.public() for record in await ClientKeys(runtime.store).list()]


@router.post("/keys", status_code=201, summary="Create a client key; shown once")
async def create_key(body: KeyCreate, runtime: RuntimeDep, _: AdminRequired) -> dict[str, str]:
    try:
        key, record = await ClientKeys(runtime.store).create(body.name, body.events)
    except (ClientKeyError, EventsError) as error:
        raise HTTPException(400, str(error)) from None
    return {**record.public(), "key": key}


@router.delete("/keys/{name_or_id}", summary="Revoke a client key")
async def revoke_key(name_or_id: str, runtime: RuntimeDep, _: AdminRequired) -> dict[str, str]:
    try:
        record = await ClientKeys(runtime.store).revoke(name_or_id)
    except UnknownKey as error:
        raise HTTPException(404, str(error)) from None
    return record.public()


# -- WebSocket --------------------------------------------------------------------------------


#: What a logged-in dashboard is treated as: a key for every event.
DASHBOARD_RECORD = KeyRecord(id="dashboard", name="dashboard", events="", created_at="")


def _dashboard_session(websocket: WebSocket, settings: Settings) -> KeyRecord | None:
    """A logged-in dashboard (the admin cookie) gets every event without a client key. The
    Origin must be this very host, which stops cross-site WebSocket hijacking of the cookie."""
    origin, host = websocket.headers.get("origin"), websocket.headers.get("host")
    if not origin or not host or urlsplit(origin).netloc != host:
        return None
    if not admin_token_matches(settings, websocket.cookies.get(ADMIN_COOKIE)):
        return None
    return DASHBOARD_RECORD


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    await websocket.accept()
    await websocket.close(code, reason)


async def events_socket(websocket: WebSocket) -> None:
    """`WS /ws/events` (see the module docstring)."""
    runtime: Runtime = websocket.app.state.runtime
    settings = runtime.settings
    broadcaster = runtime.broadcaster
    if broadcaster is None:
        await _refuse(websocket, 1013, "the event fan-out is not running; try again")
        return
    query = websocket.query_params
    key = query.get("key")
    scope = ALL_EVENTS
    if key or settings.ws_require_auth or beyond_loopback(settings, websocket.scope):
        record = None if key else _dashboard_session(websocket, settings)
        if record is None:
            record = await ClientKeys(runtime.store).verify(key)
        if record is None:
            why = "invalid or revoked key" if key else "a key is required: add ?key=<client key>"
            await _refuse(websocket, CLOSE_UNAUTHORIZED, why)
            return
        scope = record.scope
    try:
        requested = EventFilter.parse(query.get("events"))
        since_text = query.get("since") or None
        since = parse_since(since_text) if since_text else None
    except EventsError as error:
        await _refuse(websocket, CLOSE_BAD_REQUEST, str(error)[:120])
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
    )
    broadcaster.add(client)
    reader = asyncio.create_task(_read_inbound(websocket, client, settings))
    code: int | None = None
    reason = ""
    try:
        if since is not None and since_text is not None:
            await _replay(runtime, client, since_text, since)
        code, reason = await client.close_request
    except (ConnectionError, OSError, RuntimeError):
        code = None
    finally:
        broadcaster.remove(client)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await client.stop()
    if code is not None:
        try:
            await asyncio.wait_for(websocket.close(code, reason[:120]), CLOSE_TIMEOUT_S)
        except (TimeoutError, RuntimeError, OSError):
            client.sink.abort()


async def _replay(
    runtime: Runtime, client: Client, since_text: str, since: tuple[int, int]
) -> None:
    bus = runtime.bus
    settings = runtime.settings
    after = await bus.read_range(EVENTS_LOG_STREAM, f"({since[0]}-{since[1]}", "+")
    oldest = await bus.read_range(EVENTS_LOG_STREAM, "-", "+", count=1)
    horizon_ms = int(time.time() * 1000) - settings.events_retention_seconds * 1000
    plan = plan_replay(since, after, oldest[0] if oldest else None, horizon_ms)
    if plan.truncated and since != (0, 0):
        await client.send_now(truncated_notice(since_text, plan.oldest))
    last = since
    for event in plan.events:
        last = event.key
        if client.closing:
            return
        if client.filter.matches(event.name):
            await client.send_now(event)
    client.go_live(last)


async def _read_inbound(websocket: WebSocket, client: Client, settings: Any) -> None:
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
        if verdict.reply == "pong":
            pong = f'{{"event":"system.pong","data":{{}},"id":null,"ts":"{now_iso()}"}}'
            client.offer(Outgoing("system.pong", None, pong))


# A plain Starlette route: FastAPI's dependency-injected websocket route keeps three exit stacks
# and a solved-dependency scope per connection (~10 KB each), which 1000 overlays would pay.
# The route stays for apps used without events.asgi's wrapper (tests, other servers).
router.add_websocket_route(EVENTS_SOCKET_PATH, events_socket)
