"""The control API under `/control`: make the simulated Twitch do things on demand.

Trigger events (bursts, stale, duplicated, for one channel), reconnect or close sessions,
pause keepalives, go silent, revoke subscriptions, revoke/expire/issue tokens, steer OAuth,
approve device codes, list sessions, subscriptions, conduits and tokens (tokens only as
fingerprints), and watch and break webhook delivery (`webhook_routes`, under
/control/webhooks). Users (synthetic channels, revoking a user's authorization) and the Helix
rate limit are in `control_users`.

Wherever a body names a `user`, it may be a role (broadcaster, moderator, bot), a user id or a
login, synthetic users included.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from simulator.errors import ControlError
from simulator.oauth import AccessToken
from simulator.state import SimulatorState

router = APIRouter(prefix="/control")

#: A stale notification is this old unless the caller says otherwise: past the 10-minute window.
STALE_AGE_S = 11 * 60


def _state(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.simulator
    return state


class TriggerBody(BaseModel):
    type: str
    version: str | None = None
    event: dict[str, Any] = Field(default_factory=dict)
    #: Only subscriptions whose condition has these values receive the event.
    condition: dict[str, str] | None = None
    #: Only subscriptions about this channel (the id a conduit routes by: broadcaster_user_id,
    #: else to_/from_broadcaster_user_id), whatever the type's condition fields are called.
    broadcaster_user_id: str | None = None
    #: Dotted field paths to raw strings, converted to the generated value's type (CLI --set).
    set: dict[str, str] = Field(default_factory=dict)
    count: int = Field(default=1, ge=1, le=10_000)
    rate: float | None = Field(default=None, gt=0)
    message_age_s: float = Field(default=0.0, ge=0)


class StaleBody(TriggerBody):
    age_s: float = Field(default=STALE_AGE_S, gt=0)


class CloseBody(BaseModel):
    code: int = Field(ge=4000, le=4007)


class KeepaliveBody(BaseModel):
    paused: bool


class SilenceBody(BaseModel):
    silent: bool


class RevokeBody(BaseModel):
    status: str


class TokenTarget(BaseModel):
    access_token: str | None = None
    user: str | None = None


class IssueBody(BaseModel):
    user: str = "broadcaster"
    scopes: list[str] | None = None
    expires_in: float | None = Field(default=None, gt=0)


class OAuthBody(BaseModel):
    authorize_as: str | None = None
    deny: bool | None = None


class DeviceBody(BaseModel):
    user_code: str
    user: str | None = None
    deny: bool = False


class DuplicateBody(BaseModel):
    session_id: str | None = None
    message_id: str | None = None


async def _trigger(state: SimulatorState, body: TriggerBody, age_s: float) -> dict[str, Any]:
    return await state.trigger(
        body.type, body.version, body.event, body.count, body.rate, body.condition, body.set,
        age_s, body.broadcaster_user_id,
    )  # fmt: skip


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    state = _state(request)
    return {"status": "ok", "client_id": state.config.client_id}


@router.post("/trigger")
async def trigger(request: Request, body: TriggerBody) -> dict[str, Any]:
    return await _trigger(_state(request), body, body.message_age_s)


@router.post("/stale")
async def stale(request: Request, body: StaleBody) -> dict[str, Any]:
    return await _trigger(_state(request), body, body.age_s)


@router.post("/duplicate")
async def duplicate(request: Request, body: DuplicateBody) -> dict[str, Any]:
    return _state(request).duplicate(body.session_id, body.message_id)


@router.post("/sessions/{session_id}/reconnect")
async def reconnect(request: Request, session_id: str) -> dict[str, Any]:
    return {"reconnect_url": _state(request).reconnect(session_id)}


@router.post("/sessions/{session_id}/close")
async def close(request: Request, session_id: str, body: CloseBody) -> dict[str, Any]:
    session = _state(request).session(session_id)
    if not session.is_open:
        raise ControlError(409, f"session {session_id} is already closed")
    session.request_close(body.code)
    return {"closing": session_id, "code": body.code}


@router.post("/sessions/{session_id}/keepalives")
async def keepalives(request: Request, session_id: str, body: KeepaliveBody) -> dict[str, Any]:
    session = _state(request).session(session_id)
    session.keepalives_paused = body.paused
    session.poke()
    return session.describe()


@router.post("/sessions/{session_id}/silence")
async def silence(request: Request, session_id: str, body: SilenceBody) -> dict[str, Any]:
    session = _state(request).session(session_id)
    session.silent = body.silent
    session.poke()
    return session.describe()


@router.post("/subscriptions/{sub_id}/revoke")
async def revoke_subscription(request: Request, sub_id: str, body: RevokeBody) -> dict[str, Any]:
    return _state(request).revoke_subscription(sub_id, body.status)


def _targets(state: SimulatorState, body: TokenTarget) -> list[AccessToken]:
    if body.access_token:
        token = state.oauth.access_tokens.get(body.access_token)
        if token is None:
            raise ControlError(404, "no such access token")
        return [token]
    if body.user:
        return state.oauth.tokens_of_user(state.user(body.user).id)
    raise ControlError(400, "give 'access_token' or 'user'")


@router.post("/tokens/revoke")
async def revoke_tokens(request: Request, body: TokenTarget) -> dict[str, Any]:
    """One token dies; or, with `user`, the user revokes the app (user.authorization.revoke)."""
    state = _state(request)
    if body.user and not body.access_token:
        return state.revoke_user(state.user(body.user).id)
    tokens = _targets(state, body)
    for token in tokens:
        token.status = "revoked"
    return {"tokens": len(tokens), "revoked_subscriptions": []}


@router.post("/tokens/expire")
async def expire_tokens(request: Request, body: TokenTarget) -> dict[str, Any]:
    tokens = [t for t in _targets(_state(request), body) if t.status == "active"]
    for token in tokens:
        token.status = "expired"
    return {"tokens": len(tokens)}


@router.post("/tokens/issue")
async def issue_token(request: Request, body: IssueBody) -> dict[str, Any]:
    return _state(request).issue_token(body.user, body.scopes, body.expires_in)


@router.post("/oauth")
async def oauth(request: Request, body: OAuthBody) -> dict[str, Any]:
    state = _state(request)
    if body.authorize_as is not None:
        state.user(body.authorize_as)
        state.authorize_as = body.authorize_as
    if body.deny is not None:
        state.authorize_deny = body.deny
    user = state.approving_user()
    return {
        "authorize_as": state.authorize_as,
        "deny": state.authorize_deny,
        "user_id": user.id,
        "login": user.login,
    }


@router.post("/device/approve")
async def approve_device(request: Request, body: DeviceBody) -> dict[str, Any]:
    state = _state(request)
    user = state.user(body.user) if body.user else state.approving_user()
    state.oauth.decide_device(body.user_code, None if body.deny else user.id)
    return {"user_code": body.user_code.upper(), "approved": not body.deny, "user_id": user.id}


@router.get("/sessions")
async def list_sessions(request: Request) -> dict[str, Any]:
    state = _state(request)
    data = []
    for session in state.sessions.values():
        entry = session.describe()
        entry["subscriptions"] = len(state.subscriptions.enabled_on(session.id))
        held = state.conduits.holding(session.id)
        entry["conduit_shard"] = (
            {"conduit_id": held[0].id, "shard_id": held[1].id} if held is not None else None
        )
        data.append(entry)
    return {"data": data}


@router.get("/subscriptions")
async def list_subscriptions(request: Request) -> dict[str, Any]:
    state = _state(request)
    return {
        "data": [
            {**s.public(), "owner_user_id": s.user_id} for s in state.subscriptions.by_id.values()
        ]
    }


@router.get("/tokens")
async def list_tokens(request: Request) -> dict[str, Any]:
    return {"data": _state(request).oauth.describe_tokens()}


@router.get("/conduits")
async def list_conduits(request: Request) -> dict[str, Any]:
    """Every conduit with its shards, their statuses, its subscription count and `dropped`,
    the notifications no shard could take."""
    state = _state(request)
    data = [
        {**entry, "subscriptions": len(state.subscriptions.on_conduit(entry["id"]))}
        for entry in state.conduits.describe()
    ]
    return {"data": data, "dropped": sum(entry["dropped"] for entry in data)}
