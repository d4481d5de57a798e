"""The EventSub WebSocket endpoint (`/ws`): welcome, keepalives, deadlines, closes.

The socket loop is thin: it drains the session's outbox onto the socket, sends a keepalive
only when nothing else went out within the keepalive timeout, closes with 4003 when neither a
subscription nor a conduit shard uses the session by the deadline, and closes with 4001 on any
inbound data frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from fastapi import APIRouter, WebSocket
from starlette.responses import PlainTextResponse

from simulator import wire
from simulator.config import KEEPALIVE_MAX_S, SimulatorConfig
from simulator.sessions import CLOSE_CODES, Session
from simulator.state import SimulatorState
from simulator.ws_protocol import PING_PONG_REASON, SESSION_SCOPE_KEY

logger = logging.getLogger("streamcore.simulator")
router = APIRouter()

#: How long to wait for the client's close echo before giving up on a clean close.
CLOSE_ECHO_TIMEOUT_S = 5.0


def keepalive_seconds(raw: str | None, config: SimulatorConfig) -> int:
    """Twitch's rule: default 10; a numeric value out of range becomes the nearest valid one.

    Raises ValueError for a value that is not a whole number.
    """
    if raw is None or raw == "":
        return max(config.min_keepalive_s, 10)
    value = int(raw)
    return min(KEEPALIVE_MAX_S, max(config.min_keepalive_s, value))


@router.websocket("/ws")
async def eventsub_socket(websocket: WebSocket) -> None:
    state: SimulatorState = websocket.app.state.simulator
    base_url = str(websocket.url.replace(query=""))
    token = websocket.query_params.get("reconnect")
    old: Session | None = None
    if token is not None:
        old = state.claim_reconnect(token)
        await websocket.accept()
        if old is None:
            await websocket.close(4007, CLOSE_CODES[4007][0])
            return
        keepalive = old.keepalive_timeout_s
    else:
        try:
            keepalive = keepalive_seconds(
                websocket.query_params.get("keepalive_timeout_seconds"), state.config
            )
        except ValueError:
            message = "keepalive_timeout_seconds must be a whole number from 10 to 600"
            await websocket.send_denial_response(PlainTextResponse(message, status_code=400))
            return
        await websocket.accept()

    session = state.open_session(keepalive, base_url)
    deadline = state.config.subscribe_deadline_s or keepalive
    session.subscribe_deadline = time.monotonic() + deadline
    welcome = wire.welcome(session.id, session.connected_at, session.keepalive_timeout_s)
    try:
        await websocket.send_text(json.dumps(welcome))
    except Exception:  # the client left before its welcome; nothing was subscribed yet
        state.session_closed(session, 1006, by_server=False)
        return
    session.last_sent = time.monotonic()
    # The protocol layer reads this to hold its Pings while the session is silenced.
    websocket.scope[SESSION_SCOPE_KEY] = session
    if old is not None:
        state.complete_reconnect(old, session)
    code, by_server = await _serve(websocket, state, session)
    state.session_closed(session, code, by_server)


async def _read(websocket: WebSocket, session: Session) -> tuple[int, str]:
    """Wait for the socket to end; any data frame from the client earns a 4001 close."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return int(message.get("code", 1005)), str(message.get("reason") or "")
        session.request_close(4001)


async def _serve(websocket: WebSocket, state: SimulatorState, session: Session) -> tuple[int, bool]:
    """Run the socket until it ends; returns (close code, closed by the server?)."""
    reader = asyncio.create_task(_read(websocket, session))
    try:
        return await _write(websocket, state, session, reader)
    finally:
        if not reader.done():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


def _ended_by_client(reader: asyncio.Task[tuple[int, str]]) -> tuple[int, bool]:
    code, reason = reader.result()
    # The protocol layer reports a missed Pong as a disconnect with 4002 (see ws_protocol).
    return code, code == 4002 and reason == PING_PONG_REASON


async def _write(
    websocket: WebSocket,
    state: SimulatorState,
    session: Session,
    reader: asyncio.Task[tuple[int, str]],
) -> tuple[int, bool]:
    while True:
        session.wake.clear()
        if reader.done():
            return _ended_by_client(reader)
        if session.close_request is not None:
            code, reason = session.close_request
            # What is still queued stays in the outbox: the state re-routes a conduit shard's
            # notifications (Twitch retries them on another shard) and drops the rest.
            with contextlib.suppress(Exception):
                await websocket.close(code, reason)
                await asyncio.wait_for(asyncio.shield(reader), CLOSE_ECHO_TIMEOUT_S)
            return code, True
        while session.outbox and not session.silent:
            text = session.outbox.popleft()
            try:
                await websocket.send_text(text)
            except Exception:  # the client vanished mid-send; the reader reports how
                session.outbox.appendleft(text)  # not sent: the state decides its fate
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(reader), CLOSE_ECHO_TIMEOUT_S)
                return _ended_by_client(reader) if reader.done() else (1006, False)
            session.last_sent = time.monotonic()

        now = time.monotonic()
        if session.subscribe_deadline is not None and now >= session.subscribe_deadline:
            if state.session_in_use(session.id):
                session.subscribe_deadline = None
            else:
                session.request_close(4003)
                continue
        sends_keepalives = not (session.keepalives_paused or session.silent)
        keepalive_due = session.last_sent + session.keepalive_timeout_s
        if sends_keepalives and now >= keepalive_due:
            session.send(json.dumps(wire.keepalive()))
            continue

        timers = [
            t
            for t in (session.subscribe_deadline, keepalive_due if sends_keepalives else None)
            if t is not None
        ]
        timeout = max(0.0, min(timers) - now) if timers else None
        woken = asyncio.ensure_future(session.wake.wait())
        try:
            await asyncio.wait(
                {woken, reader}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()
