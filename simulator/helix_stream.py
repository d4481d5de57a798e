"""Helix stream writes: Create Clip, Create Stream Marker, Create Poll, Create Prediction.

Each follows its entry in https://dev.twitch.tv/docs/api/reference/ : a user token only (an
app token gets 401), the scope (401 without it), the body limits (400), and for clips and
markers a live broadcaster (404 when offline; `POST /control/channels/{user}/live`). Polls
and predictions run one at a time per channel (400 while one runs). Every success is recorded
in `state.activity` for `GET /control/actions`; polls and predictions also start their
`channel.poll.begin` / `channel.prediction.begin` notifications.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from simulator.channel_activity import Poll, Prediction, clip_slug, timestamp
from simulator.errors import HelixError
from simulator.helix import Token, json_body, json_response, sim_state
from simulator.helix_checks import (
    body_object,
    check_channel_points,
    check_owner,
    known_user,
    query_ids,
    required_text,
    user_token_with_scope,
)
from simulator.users import SimUser

router = APIRouter(prefix="/helix")

#: Create Stream Marker: a description of at most 140 characters.
MAX_MARKER_DESCRIPTION = 140
#: Create Poll: title <= 60, 2..5 choices of <= 25, 15..1800 s, 1..1000000 points a vote.
MAX_POLL_TITLE, POLL_CHOICES, MAX_CHOICE_TITLE = 60, (2, 5), 25
POLL_DURATION_S = (15, 1800)
POINTS_PER_VOTE = (1, 1_000_000)
#: Create Prediction: title <= 45, 2..10 outcomes of <= 25, a 30..1800 s window.
MAX_PREDICTION_TITLE, PREDICTION_OUTCOMES = 45, (2, 10)
PREDICTION_WINDOW_S = (30, 1800)
#: The clip length the newer Create Clip accepts (`duration`), and the edit URL's form.
CLIP_DURATION_S = (5.0, 60.0)
CLIP_EDIT_URL = "https://clips.twitch.tv/{id}/edit"


def _broadcaster_fields(user: SimUser) -> dict[str, str]:
    """Helix objects name the broadcaster by id, display name and login."""
    return {
        "broadcaster_id": user.id,
        "broadcaster_name": user.display_name,
        "broadcaster_login": user.login,
    }


def _whole_number(value: Any, name: str, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise HelixError(400, f"The {name} field is required.")
    if not bounds[0] <= value <= bounds[1]:
        raise HelixError(
            400,
            f"The value in {name} is outside the allowed range of values "
            f"({bounds[0]} to {bounds[1]}).",
        )
    return value


def _titles(items: Any, name: str, bounds: tuple[int, int], max_title: int) -> list[str]:
    """The titles of a poll's choices or a prediction's outcomes, each checked."""
    if not isinstance(items, list):
        raise HelixError(400, f"The {name} field is required.")
    if not bounds[0] <= len(items) <= bounds[1]:
        raise HelixError(
            400,
            f"The number of {name} may not be less than {bounds[0]} or greater than {bounds[1]}.",
        )
    titles = []
    for item in items:
        title = item.get("title") if isinstance(item, dict) else None
        if not isinstance(title, str) or not title.strip():
            raise HelixError(400, f"Each of the {name} needs a title.")
        if len(title) > max_title:
            raise HelixError(400, f"The {name} title is too long (at most {max_title} characters).")
        titles.append(title)
    return titles


def _title(body: dict[str, Any], what: str, max_length: int) -> str:
    title = required_text(body, "title")
    if len(title) > max_length:
        raise HelixError(400, f"The {what}'s title is too long (at most {max_length} characters).")
    return title


# -- clips ---------------------------------------------------------------------------------


@router.get("/streams")
async def get_streams(request: Request, token: Token) -> Response:
    """Get Streams (any token, no scope): the live ones among `user_id` / `user_login`
    (repeatable, 100 at most), newest first; offline channels are simply absent."""
    state = sim_state(request)
    ids = request.query_params.getlist("user_id")
    logins = [login.lower() for login in request.query_params.getlist("user_login")]
    if len(ids) + len(logins) > 100:
        raise HelixError(400, "You may specify a maximum of 100 user IDs and logins.")
    wanted = [state.users_by_id.get(user_id) for user_id in ids]
    wanted += [
        next((u for u in state.users_by_id.values() if u.login == login), None) for login in logins
    ]
    streams = []
    for user in wanted:
        stream = state.activity.live.get(user.id) if user is not None else None
        if user is None or stream is None:
            continue
        streams.append(
            {
                "id": stream.stream_id,
                "user_id": user.id,
                "user_login": user.login,
                "user_name": user.display_name,
                "game_id": "509658",
                "game_name": "Just Chatting",
                "type": "live",
                "title": f"{user.display_name} live",
                "viewer_count": stream.viewer_count,
                "started_at": timestamp(stream.started_at),
                "language": "en",
                "thumbnail_url": "",
                "tag_ids": [],
                "tags": [],
                "is_mature": False,
            }
        )
    return json_response(request, {"data": streams, "pagination": {}})


@router.post("/clips")
async def create_clip(request: Request, token: Token) -> Response:
    state = sim_state(request)
    user_token_with_scope(token, "clips:edit")
    (broadcaster_id,) = query_ids(request, "broadcaster_id")
    if broadcaster_id not in state.users_by_id:
        raise HelixError(400, "The ID in the broadcaster_id query parameter was not found.")
    has_delay = request.query_params.get("has_delay", "false").lower()
    if has_delay not in ("true", "false"):
        raise HelixError(400, "has_delay must be true or false.")
    duration: float | None = None
    if "duration" in request.query_params:
        try:
            duration = float(request.query_params["duration"])
        except ValueError:
            duration = -1.0
        if not CLIP_DURATION_S[0] <= duration <= CLIP_DURATION_S[1]:
            raise HelixError(400, "The duration must be from 5 to 60 seconds.")
    if broadcaster_id not in state.activity.live:
        raise HelixError(
            404, "The broadcaster in the broadcaster_id query parameter must be broadcasting live."
        )
    clip = {"id": clip_slug()}
    clip["edit_url"] = CLIP_EDIT_URL.format(id=clip["id"])
    state.activity.record(
        "clip",
        broadcaster_id,
        {
            **clip,
            "creator_id": token.user_id,
            "has_delay": has_delay == "true",
            "title": request.query_params.get("title"),
            "duration": duration,
        },
    )
    # 202: clipping is asynchronous on Twitch; Get Clips shows the clip once it is done.
    return json_response(request, {"data": [clip]}, 202)


# -- stream markers ------------------------------------------------------------------------


@router.post("/streams/markers")
async def create_stream_marker(request: Request, token: Token) -> Response:
    state = sim_state(request)
    token_user = user_token_with_scope(token, "channel:manage:broadcast")
    body = body_object(await json_body(request))
    user_id = required_text(body, "user_id")
    description = body.get("description", "")
    if not isinstance(description, str):
        raise HelixError(400, "The description field must be a string.")
    if len(description) > MAX_MARKER_DESCRIPTION:
        raise HelixError(
            400, "The length of the string in the description field is too long (at most 140)."
        )
    if user_id not in state.users_by_id:
        raise HelixError(404, "The ID in the user_id field is not valid.")
    # Twitch also lets the broadcaster's editors add markers; the simulator has no editors.
    if user_id != token_user:
        raise HelixError(
            403,
            "The user in the access token is not authorized to create video markers for the "
            "user in the user_id field.",
        )
    stream = state.activity.live.get(user_id)
    if stream is None:
        raise HelixError(404, "The user in the user_id field is not streaming live.")
    now = state.activity.clock()
    marker = {
        "id": uuid.uuid4().hex,
        "created_at": timestamp(now),
        "description": description,
        "position_seconds": int(now - stream.started_at),
    }
    state.activity.record("marker", user_id, {**marker, "creator_id": token_user})
    return json_response(request, {"data": [marker]})


# -- polls ---------------------------------------------------------------------------------


def _poll_body(body: dict[str, Any], broadcaster: SimUser) -> tuple[dict[str, Any], int]:
    """Twitch's poll object for a valid Create Poll body, and its duration."""
    title = _title(body, "poll", MAX_POLL_TITLE)
    choices = _titles(body.get("choices"), "choices", POLL_CHOICES, MAX_CHOICE_TITLE)
    duration = _whole_number(body.get("duration"), "duration", POLL_DURATION_S)
    points_enabled = body.get("channel_points_voting_enabled", False)
    if not isinstance(points_enabled, bool):
        raise HelixError(400, "channel_points_voting_enabled must be true or false.")
    per_vote = body.get("channel_points_per_vote", 0)
    if points_enabled or per_vote:
        per_vote = _whole_number(per_vote, "channel_points_per_vote", POINTS_PER_VOTE)
    poll = {
        "id": str(uuid.uuid4()),
        **_broadcaster_fields(broadcaster),
        "title": title,
        "choices": [
            {
                "id": str(uuid.uuid4()),
                "title": choice,
                "votes": 0,
                "channel_points_votes": 0,
                "bits_votes": 0,
            }
            for choice in choices
        ],
        # Bits voting is no longer offered: Twitch always answers false and 0.
        "bits_voting_enabled": False,
        "bits_per_vote": 0,
        "channel_points_voting_enabled": points_enabled,
        "channel_points_per_vote": per_vote,
        "duration": duration,
    }
    return poll, duration


@router.post("/polls")
async def create_poll(request: Request, token: Token) -> Response:
    state = sim_state(request)
    token_user = user_token_with_scope(token, "channel:manage:polls")
    body = body_object(await json_body(request))
    broadcaster_id = required_text(body, "broadcaster_id")
    check_owner(token_user, broadcaster_id)
    broadcaster = known_user(state, broadcaster_id, "broadcaster_id")
    poll_body, duration = _poll_body(body, broadcaster)
    check_channel_points(broadcaster)
    if state.activity.running_poll(broadcaster_id) is not None:
        raise HelixError(
            400,
            "The broadcaster already has a poll that's running; you may not create another "
            "poll until the current poll completes.",
        )
    now = state.activity.clock()
    poll = Poll({**poll_body, "started_at": timestamp(now)}, now, duration)
    state.activity.polls[poll.body["id"]] = poll
    state.activity.record("poll", broadcaster_id, {"id": poll.body["id"]})
    begin = {
        "id": poll.body["id"],
        "title": poll.body["title"],
        "choices": poll.body["choices"],
        "bits_voting": {"is_enabled": False, "amount_per_vote": 0},
        "channel_points_voting": {
            "is_enabled": poll.body["channel_points_voting_enabled"],
            "amount_per_vote": poll.body["channel_points_per_vote"],
        },
        "started_at": poll.body["started_at"],
        "ends_at": timestamp(now + duration),
    }
    channel = {"broadcaster_user_id": broadcaster_id}
    state.deliver_once("channel.poll.begin", "1", channel, begin, {}, 0.0)
    return json_response(request, {"data": [poll.public()]})


# -- predictions ---------------------------------------------------------------------------


def _outcome_colors(count: int) -> list[str]:
    """Two outcomes are BLUE and PINK; with more than two, every outcome is BLUE."""
    return ["BLUE", "PINK"] if count == 2 else ["BLUE"] * count


@router.post("/predictions")
async def create_prediction(request: Request, token: Token) -> Response:
    state = sim_state(request)
    token_user = user_token_with_scope(token, "channel:manage:predictions")
    body = body_object(await json_body(request))
    broadcaster_id = required_text(body, "broadcaster_id")
    check_owner(token_user, broadcaster_id)
    broadcaster = known_user(state, broadcaster_id, "broadcaster_id")
    title = _title(body, "prediction", MAX_PREDICTION_TITLE)
    outcomes = _titles(body.get("outcomes"), "outcomes", PREDICTION_OUTCOMES, MAX_CHOICE_TITLE)
    window = _whole_number(body.get("prediction_window"), "prediction_window", PREDICTION_WINDOW_S)
    check_channel_points(broadcaster)
    if state.activity.running_prediction(broadcaster_id) is not None:
        raise HelixError(
            400,
            "The broadcaster already has a prediction that's running; you may not create "
            "another prediction until the current prediction is resolved or canceled.",
        )
    now = state.activity.clock()
    prediction_id = str(uuid.uuid4())
    outcome_list = [
        {
            "id": str(uuid.uuid4()),
            "title": outcome,
            "users": 0,
            "channel_points": 0,
            "top_predictors": None,
            "color": color,
        }
        for outcome, color in zip(outcomes, _outcome_colors(len(outcomes)), strict=True)
    ]
    created: dict[str, Any] = {
        "id": prediction_id,
        **_broadcaster_fields(broadcaster),
        "title": title,
        "outcomes": outcome_list,
        "prediction_window": window,
        "created_at": timestamp(now),
    }
    prediction = Prediction(created, now, window)
    state.activity.predictions[prediction_id] = prediction
    state.activity.record("prediction", broadcaster_id, {"id": prediction_id})
    # EventSub names the colors in lower case and lists no predictors yet.
    begin = {
        "id": prediction_id,
        "title": title,
        "outcomes": [
            {**outcome, "color": str(outcome["color"]).lower(), "top_predictors": []}
            for outcome in outcome_list
        ],
        "started_at": created["created_at"],
        "locks_at": timestamp(now + window),
    }
    channel = {"broadcaster_user_id": broadcaster_id}
    state.deliver_once("channel.prediction.begin", "1", channel, begin, {}, 0.0)
    return json_response(request, {"data": [prediction.public()]})
