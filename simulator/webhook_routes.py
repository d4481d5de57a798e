"""The control API for webhook delivery, under `/control/webhooks`.

GET lists every webhook subscription's and webhook shard's delivery record; POST/DELETE
`/faults` sets and clears faults (`webhook_faults` says what each one does).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from simulator.state import SimulatorState
from simulator.webhook_faults import STALE_AGE_S, WebhookFault

router = APIRouter(prefix="/control/webhooks")


def _state(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.simulator
    return state


class FaultBody(BaseModel):
    #: None: every callback.
    callback: str | None = None
    #: Not a 2XX: the POST counts as answered with this status (it is not sent).
    fail_status: int | None = Field(default=None, ge=300, le=599)
    #: None with a fail_status: until cleared.
    fail_count: int | None = Field(default=None, ge=1)
    delay_s: float = Field(default=0.0, ge=0, le=600)
    duplicate: bool = False
    stale: bool = False
    stale_age_s: float = Field(default=STALE_AGE_S, gt=0)


def _view(state: SimulatorState) -> dict[str, Any]:
    return {"data": state.webhooks.describe(), "faults": state.webhooks.faults.describe()}


@router.get("")
async def list_webhooks(request: Request) -> dict[str, Any]:
    """Per subscription (and webhook shard): challenge, attempts, delivered, failed,
    retries_pending, dropped, consecutive_failures, last_status, last_error."""
    return _view(_state(request))


@router.post("/faults")
async def set_fault(request: Request, body: FaultBody) -> dict[str, Any]:
    """Replace the fault for `callback` (or for every callback)."""
    state = _state(request)
    state.webhooks.faults.set(WebhookFault(**body.model_dump()))
    return _view(state)


@router.delete("/faults")
async def clear_faults(request: Request, callback: str | None = None) -> dict[str, Any]:
    """Clear the fault for `?callback=`, or every fault."""
    state = _state(request)
    return {"cleared": state.webhooks.faults.clear(callback), **_view(state)}
