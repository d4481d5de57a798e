"""Every built-in action through POST /actions against the simulator, on real Redis and
PostgreSQL: the Helix call each makes, what the simulator records, and Twitch's refusals
answered as `twitch_error` with Twitch's status (a clip or marker while offline: 404; a second
poll or prediction while one runs: 400; a shoutout or announcement too soon: 429)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.actions.test_accounts import sim_call
from tests.actions.test_actions_http import call
from tests.system.test_system_flow import Deployment, approve_link, authorize, deploy


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with deploy(tmp_path) as running:
        await authorize(running)
        yield running


async def run(deployment: Deployment, name: str, args: dict[str, Any]) -> httpx.Response:
    """Call; when the token lacks the action's scope, approve the one-click link and retry."""
    answer = await call(deployment, name, args)
    if answer.status_code == 401 and answer.json()["error"]["code"] == "auth_required":
        await approve_link(deployment, answer.json()["error"]["auth_url"])
        answer = await call(deployment, name, args)
    return answer


async def recorded(deployment: Deployment, kind: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (
        await sim_call(deployment, "GET", "actions", params={"kind": kind})
    )["data"]
    return data


def twitch_error(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == 502, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == ("twitch_error", status), error


async def test_chat_send_and_reply_thread_in_twitch_chat(deployment: Deployment) -> None:
    sent = await run(deployment, "chat.send", {"message": "first"})
    assert sent.status_code == 200, sent.text
    parent = sent.json()["result"]["message_id"]
    reply = await run(deployment, "chat.reply", {"message": "second", "reply_to": parent})
    assert reply.status_code == 200, reply.text
    chat = (await sim_call(deployment, "GET", "chat"))["data"]
    assert chat[-1]["message"] == "second" and chat[-1]["reply_parent_message_id"] == parent
    bad = await run(deployment, "chat.reply", {"message": "x", "reply_to": ""})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "reply_to"


async def test_announcement_and_shoutout_follow_twitchs_cooldowns(deployment: Deployment) -> None:
    broadcaster = deployment.sim.users["broadcaster"]
    announced = await run(deployment, "chat.announce", {"message": "hi", "color": "green"})
    assert announced.status_code == 200, announced.text
    [record] = await recorded(deployment, "announcement")
    assert (record["broadcaster_id"], record["message"]) == (broadcaster.id, "hi")
    twitch_error(await run(deployment, "chat.announce", {"message": "again"}), 429)

    await sim_call(deployment, "POST", "channels/broadcaster/live", json={"live": True})
    target = deployment.sim.users["bot"]
    shouted = await run(deployment, "shoutout", {"to": target.login})
    assert shouted.status_code == 200, shouted.text
    assert shouted.json()["result"] == {"to_broadcaster_id": target.id}
    [shoutout] = await recorded(deployment, "shoutout")
    assert shoutout["broadcaster_id"] == broadcaster.id
    other = deployment.sim.users["moderator"]
    twitch_error(await run(deployment, "shoutout", {"to": other.id}), 429)
    unknown = await run(deployment, "shoutout", {"to": "no_such_login_here"})
    assert unknown.json()["error"]["code"] == "failed", unknown.text


async def test_clips_and_markers_need_the_stream_live(deployment: Deployment) -> None:
    twitch_error(await run(deployment, "clip.create", {}), 404)
    twitch_error(await run(deployment, "marker.create", {"description": "offline"}), 404)
    await sim_call(deployment, "POST", "channels/broadcaster/live", json={"live": True})
    clip = await run(deployment, "clip.create", {"has_delay": True})
    assert clip.status_code == 200, clip.text
    assert clip.json()["result"]["id"] and clip.json()["result"]["edit_url"]
    marker = await run(deployment, "marker.create", {"description": "big play"})
    assert marker.status_code == 200, marker.text
    assert marker.json()["result"]["description"] == "big play"
    assert [r["kind"] for r in await recorded(deployment, "clip")] == ["clip"]
    assert [r["description"] for r in await recorded(deployment, "marker")] == ["big play"]


async def test_one_poll_and_one_prediction_at_a_time(deployment: Deployment) -> None:
    poll = await run(deployment, "poll.create", {"title": "Next game?", "choices": ["A", "B"]})
    assert poll.status_code == 200, poll.text
    assert [c["title"] for c in poll.json()["result"]["choices"]] == ["A", "B"]
    assert poll.json()["result"]["status"] == "ACTIVE"
    twitch_error(
        await run(deployment, "poll.create", {"title": "Again", "choices": ["A", "B"]}), 400
    )
    invalid = await run(deployment, "poll.create", {"title": "One", "choices": ["A"]})
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "invalid_args"

    outcomes = {"title": "Win?", "outcomes": ["Yes", "No"], "window_s": 60}
    prediction = await run(deployment, "prediction.create", outcomes)
    assert prediction.status_code == 200, prediction.text
    assert [o["title"] for o in prediction.json()["result"]["outcomes"]] == ["Yes", "No"]
    twitch_error(await run(deployment, "prediction.create", outcomes), 400)
