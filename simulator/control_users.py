"""The control API for many channels: synthetic users, revoking a user, the Helix rate limit.

- `POST /control/users` makes synthetic broadcasters (`count` numbered from `prefix`, and/or
  explicit `logins`) that Get Users returns, OAuth can approve as (`/control/oauth`,
  `/control/tokens/issue`, `/control/device/approve` take their id or login) and EventSub
  conditions may name. With `"authorize": true` each also gets a user token at once (scopes
  `scopes`, default every broadcaster scope), so conduit subscriptions for all of them cost 0.
- `GET /control/users` lists every user, with whether it has authorized the client.
- `POST /control/users/{user}/revoke-authorization`: the user revokes the app
  (`user_revocation`).
- `GET|POST /control/ratelimit`: Helix's token buckets, and their per-minute capacity.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from simulator.state import SimulatorState
from simulator.user_directory import MAX_CREATED_PER_CALL

router = APIRouter(prefix="/control")


def _state(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.simulator
    return state


class CreateUsersBody(BaseModel):
    count: int = Field(default=0, ge=0, le=MAX_CREATED_PER_CALL)
    prefix: str = "chan"
    logins: list[str] = Field(default_factory=list)
    broadcaster_type: str = ""
    #: Also issue each new user a user token for the registered client.
    authorize: bool = False
    #: The scopes of those tokens; None: every scope a broadcaster grants.
    scopes: list[str] | None = None


class RateLimitBody(BaseModel):
    per_minute: int | None = Field(default=None, ge=1)
    #: Fill every bucket again without changing the capacity.
    refill: bool = False


@router.post("/users", status_code=201)
async def create_users(request: Request, body: CreateUsersBody) -> dict[str, Any]:
    state = _state(request)
    created = state.directory.create(body.count, body.prefix, body.logins, body.broadcaster_type)
    data = []
    for user in created:
        entry: dict[str, Any] = {
            "id": user.id,
            "login": user.login,
            "display_name": user.display_name,
        }
        if body.authorize:
            token = state.issue_token(user.id, body.scopes)
            entry |= {
                "access_token": token["access_token"],
                "refresh_token": token["refresh_token"],
                "scope": token["scope"],
            }
        data.append(entry)
    return {"data": data, "total_synthetic": len(state.directory.synthetic)}


@router.get("/users")
async def list_users(request: Request, synthetic: bool = False) -> dict[str, Any]:
    """Every user (only the synthetic ones with ?synthetic=true); `authorized`: the user has a
    live grant with the registered client."""
    state = _state(request)
    users = state.directory.synthetic if synthetic else state.directory.by_id
    client_id = state.config.client_id
    data = [
        {
            **state.directory.describe(user),
            "authorized": state.oauth.has_authorized(client_id, user.id),
        }
        for user in users.values()
    ]
    return {"data": data, "total": len(data)}


@router.post("/users/{user}/revoke-authorization")
async def revoke_authorization(request: Request, user: str) -> dict[str, Any]:
    """The user disconnects the app: tokens die, the subscriptions that needed them are
    revoked, and user.authorization.revoke goes to the clients they had authorized."""
    state = _state(request)
    return state.revoke_user(state.user(user).id)


def _ratelimit(state: SimulatorState) -> dict[str, Any]:
    return {"per_minute": state.ratelimits.per_minute, "buckets": state.ratelimits.describe()}


@router.get("/ratelimit")
async def get_ratelimit(request: Request) -> dict[str, Any]:
    return _ratelimit(_state(request))


@router.post("/ratelimit")
async def set_ratelimit(request: Request, body: RateLimitBody) -> dict[str, Any]:
    """A new capacity applies to every bucket, each starting full; `refill` only fills them."""
    state = _state(request)
    if body.per_minute is not None:
        state.config.ratelimit_per_minute = body.per_minute
        state.ratelimits.set_per_minute(body.per_minute)
    elif body.refill:
        state.ratelimits.refill()
    return _ratelimit(state)
