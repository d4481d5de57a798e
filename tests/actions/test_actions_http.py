"""GET /actions and POST /actions/{name} against the simulator on real Redis and PostgreSQL:
the operator and permitted keys call, other keys are refused, calls are rate-limited per key,
and Twitch's answers come back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.callers import CallLimits
from tests.system.test_system_flow import Deployment, approve_link, authorize, deploy


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with deploy(tmp_path) as running:
        await authorize(running)
        yield running


async def grant_chat(deployment: Deployment) -> int:
    """The one-click link of an auth_required answer, approved: the token gains the scope.
    1 when the first try was sent already (a worker needs the scope: the commands worker)."""
    answer = await call(deployment, "chat.send", {"message": "first try"})
    if answer.status_code == 200:
        return 1
    assert answer.status_code == 401, answer.text
    await approve_link(deployment, answer.json()["error"]["auth_url"])
    return 0


async def make_key(deployment: Deployment, name: str, actions: str) -> str:
    answer = await deployment.api.post("/keys", json={"name": name, "actions": actions})
    assert answer.status_code == 201, answer.text
    assert answer.json()["actions"] == actions
    key: str = answer.json()["key"]
    return key


async def call(
    deployment: Deployment, name: str, args: Any, key: str | None = None
) -> httpx.Response:
    query = f"?key={key}" if key else ""
    return await deployment.api.post(f"/actions/{name}{query}", json=args)


async def test_actions_are_listed_with_schema_scopes_and_description(
    deployment: Deployment,
) -> None:
    listed = {a["name"]: a for a in (await deployment.api.get("/actions")).json()["actions"]}
    assert {
        "chat.send",
        "chat.reply",
        "chat.announce",
        "shoutout",
        "clip.create",
        "marker.create",
        "poll.create",
        "prediction.create",
    } <= set(listed)
    send = listed["chat.send"]
    assert send["scopes"] == ["user:write:chat"]
    assert send["schema"]["properties"]["message"]["maxLength"] == 500
    assert send["description"]


async def test_the_operator_sends_a_chat_message_that_twitch_receives(
    deployment: Deployment,
) -> None:
    await grant_chat(deployment)
    answer = await call(deployment, "chat.send", {"message": "hello chat"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is True
    assert body["result"]["is_sent"] is True and body["result"]["message_id"]


async def test_bad_arguments_and_unknown_actions(deployment: Deployment) -> None:
    bad = await call(deployment, "chat.send", {"message": ""})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_args"
    assert bad.json()["error"]["fields"][0]["field"] == "message"
    unknown = await call(deployment, "no.such", {})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_action"


async def test_a_missing_scope_answers_auth_required_with_a_link(deployment: Deployment) -> None:
    answer = await call(deployment, "clip.create", {})
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == "auth_required"
    assert error["missing_scopes"] == ["clips:edit"]
    assert "clips%3Aedit" in error["auth_url"] or "clips:edit" in error["auth_url"]


async def test_keys_call_only_what_they_are_allowed_and_are_rate_limited(
    deployment: Deployment,
) -> None:
    listener = await make_key(deployment, "overlay", "")
    refused = await call(deployment, "chat.send", {"message": "hi"}, listener)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    bad_key = await call(deployment, "chat.send", {"message": "hi"}, "sck_not-a-key")
    assert bad_key.status_code == 401

    sent_before = await grant_chat(deployment)
    deck = await make_key(deployment, "stream-deck", "chat.*")
    other = await call(deployment, "shoutout", {"to": "someone"}, deck)
    assert other.status_code == 403
    # A burst of 3 and (nearly) no refill, so the count does not depend on the clock.
    deployment.app.state.call_limits = CallLimits(rate=0.001, burst=3)
    answers = [await call(deployment, "chat.send", {"message": f"m{n}"}, deck) for n in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    # The operator is not limited.
    assert (await call(deployment, "chat.send", {"message": "op"})).status_code == 200
    metrics = (await deployment.api.get("/metrics")).text
    ok = 4 + sent_before
    assert f'streamcore_action_calls_total{{action="chat.send",outcome="ok"}} {ok}' in metrics
    assert 'streamcore_action_calls_total{action="chat.send",outcome="rate_limited"} 2' in metrics
    assert 'streamcore_action_calls_total{action="shoutout",outcome="forbidden"} 1' in metrics
