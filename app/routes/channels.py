"""HTTP routes of the channels: list, add (a link and a device code), remove.

A channel is a broadcaster who authorized StreamCore (tokens.channels). The first one is the
default channel, whose token is the one at /tokens; `POST /channels` starts an authorization
whose approver is added as another channel, by the OAuth link (opened in the broadcaster's
browser) or by the device code (entered at Twitch's activation page), whichever comes first.
Errors answer `{"error": <code>, "message": <what to do>}`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from app.access import AdminRequired
from app.deps import ServicesDep, TasksDep, TokensDep
from core.channels import channel_of
from core.constants import WORKER_STATE_NAMESPACE
from tokens.channels import DefaultChannel, UnknownChannel
from tokens.errors import TokenError

router = APIRouter(prefix="/channels", tags=["channels"])


@router.get("", summary="The channels that authorized StreamCore, the default first")
async def list_channels(
    tokens: TokensDep, services: ServicesDep, _: AdminRequired
) -> list[dict[str, Any]]:
    """Each channel with its authorization (`auth`: ok, missing_scopes, invalid (its token
    failed the hourly check) or revoked), its
    subscriptions by status (as the coordinator keeps them: empty on other replicas) and the
    clients on this replica that follow only it (`?channel=` or a bound key)."""
    records = await tokens.channels.list()
    required = set(tokens.required_scopes())
    subscriptions: dict[str, Counter[str]] = defaultdict(Counter)
    for sub in services.system.eventsub.subscriptions():
        channel = channel_of({"subscription": {"condition": sub.get("condition") or {}}})
        if channel is not None:
            subscriptions[channel.id][str(sub.get("status"))] += 1
    broadcaster = services.broadcaster
    clients = broadcaster.channel_clients() if broadcaster is not None else {}
    listed = []
    for index, record in enumerate(records):
        missing = sorted(required - set(record.scopes))
        auth = (
            "revoked"
            if record.status == "revoked"
            else "invalid"
            if record.token_state == "invalid"
            else "missing_scopes"
            if missing
            else "ok"
        )
        listed.append(
            {
                **record.public(),
                "default": index == 0,
                "auth": auth,
                "missing_scopes": missing,
                "subscriptions": dict(subscriptions.get(record.id, {})),
                "clients": clients.get(record.id, 0),
            }
        )
    return listed


@router.post("", summary="Add a channel: a link and a device code for its broadcaster")
async def add_channel(tokens: TokensDep, tasks: TasksDep, _: AdminRequired) -> Response:
    try:
        link = await tokens.auth_link("channel")
        flow, finish = await tokens.begin_device_flow("channel")
    except TokenError as error:
        return JSONResponse({"error": "token_error", "message": str(error)}, status_code=400)
    tasks.spawn(f"tokens.device.{flow.id}", finish)
    return JSONResponse({**link, "device": flow.public()})


@router.delete("/{login_or_id}", summary="Remove a channel: revoke and delete its token")
async def remove_channel(
    login_or_id: str, tokens: TokensDep, services: ServicesDep, _: AdminRequired
) -> Response:
    """Revoke and delete its token, delete its record and every worker's state of it; the
    coordinator deletes its subscriptions at the next channel check (within a second)."""
    try:
        record = await tokens.channels.remove(login_or_id, tokens.oauth)
    except UnknownChannel as error:
        return JSONResponse({"error": "not_found", "message": str(error)}, status_code=404)
    except DefaultChannel as error:
        return JSONResponse({"error": "default_channel", "message": str(error)}, status_code=409)
    forgotten = 0
    for worker in services.discovery.workers:
        namespace = f"{WORKER_STATE_NAMESPACE.format(worker=worker.name)}:channel:{record.id}"
        for key in await services.store.items(namespace):
            forgotten += await services.store.delete(namespace, key)
    return JSONResponse({**record.public(), "status": "removed", "state_keys_deleted": forgotten})
