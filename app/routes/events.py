"""HTTP and WebSocket routes of the fan-out: `WS /ws/events`, `GET /events/schema`, `/keys`.

`WS /ws/events?key=&events=&since=&channel=` access: a key (`?key=`, since OBS browser sources
cannot set headers) is required when StreamCore listens beyond loopback or WS_REQUIRE_AUTH=true;
a key that is given is always checked. A missing, unknown or revoked key: accept, then close
4001 with a reason; nothing else is sent first. A key's scope narrows what the client gets.
`?channel=` (logins or ids, comma-separated) keeps only those channels' events (and the system
events, which belong to no channel); an unknown channel closes 4000. A key bound to channels
gets only theirs, and asking for another closes 4003. The rest of the client's life is
`events.session.serve_client`.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, WebSocket
from pydantic import BaseModel, Field

from app.access import (
    AdminRequired,
    admin_token_matches,
    bearer_token,
    beyond_loopback,
    dashboard_session_verified,
)
from app.callers import Caller
from app.deps import BusDep, DiscoveryDep, StoreDep, find_services
from app.socket_requests import SocketRequests
from core.settings import Settings
from db_infrastructure import StoreUnavailable
from events.constants import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORIZED,
)
from events.errors import ClientKeyError, EventsError, UnknownKey
from events.filters import ALL_EVENTS
from events.keys import ALL_CHANNELS, ClientKeys, KeyRecord, revoke_everywhere
from events.schema import event_schema
from events.session import refuse, serve_client
from tokens.channels import ChannelRegistry

__all__ = ["EVENTS_SOCKET_PATH", "events_socket", "router"]

#: The fan-out's WebSocket path (StreamCoreApp serves it ahead of the middleware chain).
EVENTS_SOCKET_PATH = "/ws/events"

logger = logging.getLogger("streamcore.events")
router = APIRouter()
#: Channels one client may name in `?channel=` (more is a misuse; `*` takes every channel).
MAX_CHANNELS_PER_CLIENT = 100


# -- HTTP -------------------------------------------------------------------------------------


@router.get("/events/schema", summary="Every event clients can receive")
async def get_event_schema(discovery: DiscoveryDep) -> dict[str, Any]:
    return event_schema(discovery.event_schemas(), discovery.workers_without_emits())


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    events: str = ""
    #: Logins or ids of the channels the key may receive; ["*"] (the default): every channel.
    channels: list[str] = Field(default_factory=lambda: [ALL_CHANNELS], max_length=1000)
    #: Patterns of the actions the key may call (e.g. "chat.send,shoutout"); "": none.
    actions: str = ""


@router.get("/keys", summary="List client keys (never the keys themselves)")
async def list_keys(store: StoreDep, _: AdminRequired) -> list[dict[str, str]]:
    return [record.public() for record in await ClientKeys(store).list()]


@router.post("/keys", status_code=201, summary="Create a client key; shown once")
async def create_key(body: KeyCreate, store: StoreDep, _: AdminRequired) -> dict[str, str]:
    try:
        channels = await _resolve_channels(ChannelRegistry(store), ",".join(body.channels))
        key, record = await ClientKeys(store).create(body.name, body.events, channels, body.actions)
    except (ClientKeyError, EventsError, UnknownChannel) as error:
        raise HTTPException(400, str(error)) from None
    return {**record.public(), "key": key}


class UnknownChannel(ValueError):
    pass


async def _resolve_channels(registry: ChannelRegistry, text: str | None) -> frozenset[str] | None:
    """The ids of the channels `text` names (logins or ids, comma-separated); None for none
    named or `*` (every channel). UnknownChannel names one that never authorized StreamCore."""
    names = [name.strip() for name in (text or "").split(",") if name.strip()]
    if not names or ALL_CHANNELS in names:
        return None
    ids = set()
    for name in names[:MAX_CHANNELS_PER_CLIENT]:
        record = await registry.resolve(name)
        if record is None:
            raise UnknownChannel(f"unknown channel {name[:40]!r}: `streamcore channels list`")
        ids.add(record.id)
    return frozenset(ids)


@router.delete("/keys/{name_or_id}", summary="Revoke a client key")
async def revoke_key(
    name_or_id: str, store: StoreDep, bus: BusDep, _: AdminRequired
) -> dict[str, str]:
    try:
        record = await revoke_everywhere(ClientKeys(store), bus, name_or_id)
    except UnknownKey as error:
        raise HTTPException(404, str(error)) from None
    return record.public()


# -- WebSocket --------------------------------------------------------------------------------


#: What a logged-in dashboard is treated as: a key for every event.
DASHBOARD_RECORD = KeyRecord(id="dashboard", name="dashboard", events="", created_at="")


def _dashboard_session(websocket: WebSocket, settings: Settings) -> KeyRecord | None:
    """A logged-in dashboard gets every event without a client key. Its session cookie was
    looked up in the store before the socket got here (app/guards.py, `admit_websocket`, marks
    the scope; without that mark nobody is let in this way). The Origin must be this very host,
    which stops cross-site WebSocket hijacking of the cookie."""
    origin, host = websocket.headers.get("origin"), websocket.headers.get("host")
    if not origin or not host or urlsplit(origin).netloc != host:
        return None
    if not dashboard_session_verified(websocket.scope):
        return None
    return DASHBOARD_RECORD


async def events_socket(websocket: WebSocket) -> None:
    """`WS /ws/events` (see the module docstring)."""
    services = find_services(websocket)
    broadcaster = services.broadcaster if services is not None else None
    if services is None or broadcaster is None:
        await refuse(websocket, 1013, "the event fan-out is not running; try again")
        return
    settings = services.settings
    key = websocket.query_params.get("key")
    scope = ALL_EVENTS
    key_id: str | None = None
    record: KeyRecord | None = None
    if key or settings.ws_require_auth or beyond_loopback(settings, websocket.scope):
        record = None if key else _dashboard_session(websocket, settings)
        if record is None:
            try:
                record = await ClientKeys(services.store).verify(key)
            except StoreUnavailable as error:
                logger.warning("Refused a keyed client: %s", error)
                await refuse(websocket, CLOSE_TRY_AGAIN, "the key store is unavailable; retry")
                return
        if record is None:
            why = "invalid or revoked key" if key else "a key is required: add ?key=<client key>"
            await refuse(websocket, CLOSE_UNAUTHORIZED, why)
            return
        scope = record.scope
        key_id = None if record is DASHBOARD_RECORD else record.id
    try:
        channels = await _resolve_channels(
            services.tokens.channels, websocket.query_params.get("channel")
        )
    except UnknownChannel as error:
        await refuse(websocket, CLOSE_BAD_REQUEST, str(error))
        return
    except StoreUnavailable:
        await refuse(websocket, CLOSE_TRY_AGAIN, "the channel list is unavailable; retry")
        return
    bound = record.channel_ids if record is not None else None
    if bound is not None:
        if channels is not None and not channels <= bound:
            await refuse(websocket, CLOSE_FORBIDDEN, "this key may not receive that channel")
            return
        channels = bound if channels is None else channels
    requests = SocketRequests(
        services.actions,
        _caller(websocket, record, settings),
        services.tokens.channels,
        websocket.app.state.call_limits,
        services.bus,
    )
    await serve_client(
        websocket,
        scope=scope,
        broadcaster=broadcaster,
        bus=services.bus,
        settings=settings,
        key_id=key_id,
        channels=channels,
        requests=requests,
    )


#: A keyless browser page of another site: it may listen (where no key is needed) but not act.
CROSS_SITE = KeyRecord(id="cross-site", name="cross-site page", events="", created_at="")


#: A keyless local client while STREAMCORE_ADMIN_TOKEN is set, without that token: the control
#: surface needs the token then, so acting does too; listening stays open as before.
LISTENER = KeyRecord(id="listener", name="local client without the admin token", events="",
                     created_at="")  # fmt: skip


def _caller(websocket: WebSocket, record: KeyRecord | None, settings: Settings) -> Caller:
    """Who calls actions on this socket: the dashboard and local scripts are the operator
    (with STREAMCORE_ADMIN_TOKEN set, only a script that sends it as a Bearer token); a key
    calls what its patterns allow; a keyless page of another origin calls nothing."""
    if record is DASHBOARD_RECORD:
        return Caller("dashboard")
    if record is not None:
        return Caller(f"key {record.name}", record)
    origin, host = websocket.headers.get("origin"), websocket.headers.get("host")
    if origin is not None and (host is None or urlsplit(origin).netloc != host):
        return Caller("cross-site page", CROSS_SITE)
    if settings.streamcore_admin_token is not None and not admin_token_matches(
        settings, bearer_token(websocket.scope)
    ):
        return Caller(LISTENER.name, LISTENER)
    return Caller("local client")


# A plain Starlette route: FastAPI's dependency-injected websocket route keeps three exit stacks
# and a solved-dependency scope per connection (~10 KB each), which 1000 overlays would pay.
# The route stays for apps used without StreamCoreApp's direct route (tests, other servers).
router.add_websocket_route(EVENTS_SOCKET_PATH, events_socket)
