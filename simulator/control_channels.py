"""The control API for channels: go live or offline, and see what apps did through Helix.

- `GET /control/channels/{user}` and `POST /control/channels/{user}/live`: whether the channel
  streams. Create Clip and Create Stream Marker need a live broadcaster (404 otherwise), and
  Send a Shoutout a live sender with at least one viewer (400). Going live or offline also
  sends `stream.online` / `stream.offline` to their subscribers.
- `GET /control/chat`: the messages Send Chat Message took; `GET /control/actions`: every
  recorded action (chat messages, announcements, shoutouts, clips, markers, polls,
  predictions); `DELETE /control/actions` forgets them.
- `POST /control/chat/drops`: the next messages are answered `is_sent: false` with a
  `drop_reason`, as Twitch does when AutoMod or a chat mode holds a message.
- `POST /control/channels/{user}/end-poll` and `/end-prediction`: finish the one running.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from simulator.channel_activity import ACTION_KINDS, timestamp
from simulator.errors import ControlError
from simulator.state import SimulatorState
from simulator.users import SimUser

router = APIRouter(prefix="/control")


def _state(request: Request) -> SimulatorState:
    state: SimulatorState = request.app.state.simulator
    return state


class LiveBody(BaseModel):
    live: bool
    #: Viewers watching; a shoutout needs at least one.
    viewer_count: int = Field(default=1, ge=0)


class DropBody(BaseModel):
    #: How many of the next Send Chat Message calls are dropped.
    count: int = Field(default=1, ge=1, le=1000)
    code: str = "msg_rejected"
    message: str = "Your message is being checked by mods and has not been sent."


class EndPredictionBody(BaseModel):
    #: Resolve with this outcome as the winner; without it the prediction is canceled.
    winning_outcome_id: str | None = None


def _channel(state: SimulatorState, user: SimUser) -> dict[str, Any]:
    running_poll = state.activity.running_poll(user.id)
    running_prediction = state.activity.running_prediction(user.id)
    return {
        "user_id": user.id,
        "login": user.login,
        **state.activity.describe_live(user.id),
        "poll": running_poll.public() if running_poll is not None else None,
        "prediction": running_prediction.public() if running_prediction is not None else None,
    }


@router.get("/channels/{user}")
async def get_channel(request: Request, user: str) -> dict[str, Any]:
    """Whether the channel is live, and its running poll and prediction."""
    state = _state(request)
    return _channel(state, state.user(user))


@router.post("/channels/{user}/live")
async def set_live(request: Request, user: str, body: LiveBody) -> dict[str, Any]:
    state = _state(request)
    channel = state.user(user)
    condition = {"broadcaster_user_id": channel.id}
    if body.live:
        stream, started = state.activity.go_live(channel.id, body.viewer_count)
        if started:
            started_at = timestamp(stream.started_at)
            event = {"id": stream.stream_id, "type": "live", "started_at": started_at}
            state.deliver_once("stream.online", "1", condition, event, {}, 0.0)
    elif state.activity.go_offline(channel.id):
        state.deliver_once("stream.offline", "1", condition, {}, {}, 0.0)
    return _channel(state, channel)


@router.post("/channels/{user}/end-poll")
async def end_poll(request: Request, user: str) -> dict[str, Any]:
    """End the running poll early (status TERMINATED)."""
    state = _state(request)
    poll = state.activity.end_poll(state.user(user).id)
    if poll is None:
        raise ControlError(404, f"{user} has no poll running")
    return poll.public()


@router.post("/channels/{user}/end-prediction")
async def end_prediction(request: Request, user: str, body: EndPredictionBody) -> dict[str, Any]:
    """Resolve (with `winning_outcome_id`) or cancel the running prediction."""
    state = _state(request)
    try:
        prediction = state.activity.end_prediction(state.user(user).id, body.winning_outcome_id)
    except LookupError:
        raise ControlError(404, f"{user} has no prediction running") from None
    except ValueError:
        raise ControlError(
            400, "winning_outcome_id is not one of the prediction's outcomes"
        ) from None
    return prediction.public()


@router.get("/chat")
async def list_chat(request: Request, broadcaster_id: str | None = None) -> dict[str, Any]:
    """Send Chat Message calls, oldest first (dropped ones too, with is_sent false)."""
    data = _state(request).activity.describe_records("chat_message", broadcaster_id)
    return {"data": data, "total": len(data)}


@router.post("/chat/drops")
async def queue_chat_drops(request: Request, body: DropBody) -> dict[str, Any]:
    activity = _state(request).activity
    activity.chat_drops.extend(
        {"code": body.code, "message": body.message} for _ in range(body.count)
    )
    return {"pending_drops": len(activity.chat_drops)}


@router.get("/actions")
async def list_actions(
    request: Request, kind: str | None = None, broadcaster_id: str | None = None
) -> dict[str, Any]:
    """Every recorded Helix action, oldest first; `kind` and `broadcaster_id` filter."""
    if kind is not None and kind not in ACTION_KINDS:
        raise ControlError(400, f"kind must be one of {', '.join(ACTION_KINDS)}")
    data = _state(request).activity.describe_records(kind, broadcaster_id)
    return {"data": data, "total": len(data)}


@router.delete("/actions")
async def clear_actions(request: Request) -> dict[str, Any]:
    """Forget the recorded actions; live state, cooldowns and running polls stay."""
    return {"cleared": _state(request).activity.clear_records()}
