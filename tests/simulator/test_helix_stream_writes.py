"""Helix stream writes as Twitch answers them: Create Clip, Create Stream Marker, Create Poll
and Create Prediction (https://dev.twitch.tv/docs/api/reference/), the control API's live
switch, and what it records."""

from __future__ import annotations

import pytest

from tests.simulator.helix_helpers import (
    FakeClock,
    actions,
    assert_helix_error,
    assert_ratelimit_headers,
    go_live,
    token_for,
)
from tests.simulator.helpers import control, eventsub, helix, subscribe

pytestmark = pytest.mark.slow  # the simulator serves on a port

BROADCASTER, MODERATOR, OTHER = "71092938", "49207184", "31239503"


# -- live switch ---------------------------------------------------------------------------


async def test_going_live_and_offline_is_shown_and_sent_as_stream_events(simulator):
    token = await token_for(simulator)
    async with (
        helix(simulator, token) as api,
        eventsub(simulator.ws_url) as client,
        control(simulator) as ctl,
    ):
        session_id = await client.welcome()
        for sub_type in ("stream.online", "stream.offline"):
            condition = {"broadcaster_user_id": BROADCASTER}
            assert (await subscribe(api, session_id, sub_type, condition)).status_code == 202
        assert (await ctl.get("/channels/lunaria_live")).json()["live"] is False
        live = (await ctl.post("/channels/broadcaster/live", json={"live": True})).json()
        online = await client.next_of("notification")
        offline_answer = await ctl.post(f"/channels/{BROADCASTER}/live", json={"live": False})
        offline = await client.next_of("notification")
    assert live["live"] is True and live["viewer_count"] == 1 and live["user_id"] == BROADCASTER
    assert online["metadata"]["subscription_type"] == "stream.online"
    assert online["payload"]["event"]["id"] == live["stream_id"]
    assert online["payload"]["event"]["started_at"] == live["started_at"]
    assert offline["metadata"]["subscription_type"] == "stream.offline"
    assert offline_answer.json()["live"] is False


# -- Create Clip ---------------------------------------------------------------------------


async def test_clip_is_202_with_id_and_edit_url_when_live(simulator):
    await go_live(simulator)
    async with helix(simulator, await token_for(simulator)) as api:
        response = await api.post(f"/clips?broadcaster_id={BROADCASTER}&has_delay=true")
    assert response.status_code == 202, response.text
    assert_ratelimit_headers(response)
    [clip] = response.json()["data"]
    assert set(clip) == {"id", "edit_url"}
    assert clip["edit_url"] == f"https://clips.twitch.tv/{clip['id']}/edit"
    [recorded] = await actions(simulator, "clip")
    assert recorded["id"] == clip["id"] and recorded["has_delay"] is True
    assert recorded["broadcaster_id"] == BROADCASTER and recorded["creator_id"] == BROADCASTER


async def test_clip_refusals(simulator):
    async with helix(simulator, await token_for(simulator, scopes=["user:read:chat"])) as api:
        assert_helix_error(await api.post(f"/clips?broadcaster_id={BROADCASTER}"), 401)
    app_token = (await simulator.issue_app_token())["access_token"]
    async with helix(simulator, app_token) as api:
        assert_helix_error(await api.post(f"/clips?broadcaster_id={BROADCASTER}"), 401)
    async with helix(simulator, await token_for(simulator)) as api:
        assert_helix_error(await api.post("/clips"), 400)
        assert_helix_error(await api.post("/clips?broadcaster_id=999999999"), 400)
        assert_helix_error(
            await api.post(f"/clips?broadcaster_id={BROADCASTER}&has_delay=maybe"), 400
        )
        assert_helix_error(await api.post(f"/clips?broadcaster_id={BROADCASTER}"), 404)  # offline


# -- Create Stream Marker ------------------------------------------------------------------


async def test_marker_is_200_with_position_in_the_stream(simulator):
    simulator.state.activity.clock = clock = FakeClock()
    await go_live(simulator)
    clock.advance(244)
    async with helix(simulator, await token_for(simulator)) as api:
        response = await api.post(
            "/streams/markers", json={"user_id": BROADCASTER, "description": "hello, marker!"}
        )
        plain = await api.post("/streams/markers", json={"user_id": BROADCASTER})
    assert response.status_code == 200, response.text
    assert_ratelimit_headers(response)
    [marker] = response.json()["data"]
    assert set(marker) == {"id", "created_at", "description", "position_seconds"}
    assert marker["position_seconds"] == 244 and marker["description"] == "hello, marker!"
    assert marker["created_at"].endswith("Z")
    assert plain.json()["data"][0]["description"] == ""
    assert [m["id"] for m in await actions(simulator, "marker")] == [
        marker["id"],
        plain.json()["data"][0]["id"],
    ]


async def test_marker_refusals(simulator):
    async with helix(simulator, await token_for(simulator, scopes=["user:read:chat"])) as api:
        assert_helix_error(await api.post("/streams/markers", json={"user_id": BROADCASTER}), 401)
    async with helix(simulator, await token_for(simulator)) as api:
        assert_helix_error(await api.post("/streams/markers", json={}), 400)
        too_long = {"user_id": BROADCASTER, "description": "d" * 141}
        assert_helix_error(await api.post("/streams/markers", json=too_long), 400)
        assert_helix_error(await api.post("/streams/markers", json={"user_id": BROADCASTER}), 404)
        assert_helix_error(await api.post("/streams/markers", json={"user_id": "999999999"}), 404)
        await go_live(simulator, OTHER)
        assert_helix_error(await api.post("/streams/markers", json={"user_id": OTHER}), 403)


# -- Create Poll ---------------------------------------------------------------------------


def _poll(**changes: object) -> dict[str, object]:
    return {
        "broadcaster_id": BROADCASTER,
        "title": "Heads or Tails?",
        "choices": [{"title": "Heads"}, {"title": "Tails"}],
        "duration": 1800,
        "channel_points_voting_enabled": True,
        "channel_points_per_vote": 100,
        **changes,
    }


async def test_poll_is_200_with_the_full_poll_and_one_runs_at_a_time(simulator):
    simulator.state.activity.clock = clock = FakeClock()
    async with helix(simulator, await token_for(simulator)) as api:
        response = await api.post("/polls", json=_poll())
        assert_helix_error(await api.post("/polls", json=_poll(title="Another?")), 400)
        clock.advance(1800)  # the first poll has run its course
        second = await api.post("/polls", json=_poll(duration=15))
    assert response.status_code == 200, response.text
    assert_ratelimit_headers(response)
    [poll] = response.json()["data"]
    assert set(poll) == {
        "id", "broadcaster_id", "broadcaster_name", "broadcaster_login", "title", "choices",
        "bits_voting_enabled", "bits_per_vote", "channel_points_voting_enabled",
        "channel_points_per_vote", "status", "duration", "started_at", "ended_at",
    }  # fmt: skip
    assert poll["status"] == "ACTIVE" and poll["ended_at"] is None and poll["duration"] == 1800
    assert poll["broadcaster_login"] == "lunaria_live" and poll["bits_voting_enabled"] is False
    assert [c["title"] for c in poll["choices"]] == ["Heads", "Tails"]
    assert set(poll["choices"][0]) == {"id", "title", "votes", "channel_points_votes", "bits_votes"}
    assert second.status_code == 200, second.text
    recorded = await actions(simulator, "poll")
    assert [p["status"] for p in recorded] == ["COMPLETED", "ACTIVE"]
    async with control(simulator) as ctl:
        ended = await ctl.post("/channels/broadcaster/end-poll")
        assert (await ctl.post("/channels/broadcaster/end-poll")).status_code == 404
    assert ended.json()["status"] == "TERMINATED" and ended.json()["ended_at"]


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "t" * 61},
        {"title": ""},
        {"choices": [{"title": "only one"}]},
        {"choices": [{"title": str(n)} for n in range(6)]},
        {"choices": [{"title": "c" * 26}, {"title": "ok"}]},
        {"duration": 14},
        {"duration": 1801},
        {"duration": "60"},
        {"channel_points_per_vote": 0},
        {"channel_points_per_vote": 1_000_001},
        {"broadcaster_id": None},
    ],
)
async def test_poll_bad_input_is_400(simulator, changes):
    async with helix(simulator, await token_for(simulator)) as api:
        assert_helix_error(await api.post("/polls", json=_poll(**changes)), 400)


async def test_poll_authorization(simulator):
    async with helix(simulator, await token_for(simulator, scopes=["channel:read:polls"])) as api:
        assert_helix_error(await api.post("/polls", json=_poll()), 401)
    app_token = (await simulator.issue_app_token())["access_token"]
    async with helix(simulator, app_token) as api:
        assert_helix_error(await api.post("/polls", json=_poll()), 401)
    async with helix(simulator, await token_for(simulator)) as api:
        assert_helix_error(await api.post("/polls", json=_poll(broadcaster_id=OTHER)), 401)
    # Polls need Channel Points: only affiliates and partners have them.
    async with control(simulator) as ctl:
        created = await ctl.post("/users", json={"logins": ["tinychannel"], "authorize": True})
    [user] = created.json()["data"]
    async with helix(simulator, user["access_token"]) as api:
        assert_helix_error(await api.post("/polls", json=_poll(broadcaster_id=user["id"])), 403)


async def test_poll_begin_is_sent_on_eventsub(simulator):
    token = await token_for(simulator)
    async with helix(simulator, token) as api, eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
        condition = {"broadcaster_user_id": BROADCASTER}
        assert (
            await subscribe(api, session_id, "channel.poll.begin", condition)
        ).status_code == 202
        poll = (await api.post("/polls", json=_poll())).json()["data"][0]
        event = (await client.next_of("notification"))["payload"]["event"]
    assert event["id"] == poll["id"] and event["title"] == "Heads or Tails?"
    assert event["channel_points_voting"] == {"is_enabled": True, "amount_per_vote": 100}
    assert [c["id"] for c in event["choices"]] == [c["id"] for c in poll["choices"]]


# -- Create Prediction ---------------------------------------------------------------------


def _prediction(**changes: object) -> dict[str, object]:
    return {
        "broadcaster_id": BROADCASTER,
        "title": "Will I finish this entire pizza?",
        "outcomes": [{"title": "yes"}, {"title": "no"}],
        "prediction_window": 120,
        **changes,
    }


async def test_prediction_is_200_and_blocks_until_resolved_or_canceled(simulator):
    simulator.state.activity.clock = clock = FakeClock()
    async with helix(simulator, await token_for(simulator)) as api:
        response = await api.post("/predictions", json=_prediction())
        clock.advance(121)  # locked, but still running
        assert_helix_error(await api.post("/predictions", json=_prediction()), 400)
        [prediction] = response.json()["data"]
        async with control(simulator) as ctl:
            bad = await ctl.post(
                "/channels/broadcaster/end-prediction", json={"winning_outcome_id": "x"}
            )
            winner = prediction["outcomes"][0]["id"]
            resolved = await ctl.post(
                "/channels/broadcaster/end-prediction", json={"winning_outcome_id": winner}
            )
        four = [{"title": t} for t in ("a", "b", "c", "d")]
        second = await api.post("/predictions", json=_prediction(outcomes=four))
    assert response.status_code == 200, response.text
    assert_ratelimit_headers(response)
    assert set(prediction) == {
        "id", "broadcaster_id", "broadcaster_name", "broadcaster_login", "title",
        "winning_outcome_id", "outcomes", "prediction_window", "status", "created_at",
        "ended_at", "locked_at",
    }  # fmt: skip
    assert prediction["status"] == "ACTIVE" and prediction["winning_outcome_id"] is None
    assert prediction["ended_at"] is None and prediction["locked_at"] is None
    assert [(o["title"], o["color"]) for o in prediction["outcomes"]] == [
        ("yes", "BLUE"),
        ("no", "PINK"),
    ]
    assert (
        prediction["outcomes"][0]["users"] == 0
        and prediction["outcomes"][0]["top_predictors"] is None
    )
    assert bad.status_code == 400
    assert (
        resolved.json()["status"] == "RESOLVED" and resolved.json()["winning_outcome_id"] == winner
    )
    assert resolved.json()["locked_at"] is not None
    assert second.status_code == 200, second.text
    assert {o["color"] for o in second.json()["data"][0]["outcomes"]} == {"BLUE"}
    assert [p["status"] for p in await actions(simulator, "prediction")] == ["RESOLVED", "ACTIVE"]


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "t" * 46},
        {"outcomes": [{"title": "one"}]},
        {"outcomes": [{"title": str(n)} for n in range(11)]},
        {"outcomes": [{"title": "o" * 26}, {"title": "ok"}]},
        {"prediction_window": 29},
        {"prediction_window": 1801},
        {"outcomes": None},
    ],
)
async def test_prediction_bad_input_is_400(simulator, changes):
    async with helix(simulator, await token_for(simulator)) as api:
        assert_helix_error(await api.post("/predictions", json=_prediction(**changes)), 400)


async def test_prediction_authorization(simulator):
    read_only = await token_for(simulator, scopes=["channel:read:predictions"])
    async with helix(simulator, read_only) as api:
        assert_helix_error(await api.post("/predictions", json=_prediction()), 401)
    async with helix(simulator, await token_for(simulator, "moderator")) as api:
        assert_helix_error(await api.post("/predictions", json=_prediction()), 401)
    async with helix(simulator, await token_for(simulator)) as api:
        assert_helix_error(
            await api.post("/predictions", json=_prediction(broadcaster_id=MODERATOR)), 401
        )


async def test_cleared_actions_keep_cooldowns(simulator):
    await go_live(simulator)
    async with helix(simulator, await token_for(simulator)) as api:
        path = (
            f"/chat/shoutouts?from_broadcaster_id={BROADCASTER}&to_broadcaster_id={OTHER}"
            f"&moderator_id={BROADCASTER}"
        )
        assert (await api.post(path)).status_code == 204
        async with control(simulator) as ctl:
            assert (await ctl.delete("/actions")).json() == {"cleared": 1}
            assert (await ctl.get("/actions", params={"kind": "nonsense"})).status_code == 400
        assert await actions(simulator) == []
        assert_helix_error(await api.post(path), 429)
