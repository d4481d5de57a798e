"""Channels end to end against the simulator: the first authorization is the default channel;
`POST /channels` adds others through the OAuth link or the device code, without touching the
default channel's token; `DELETE /channels/{login}` revokes and forgets one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.polling import eventually
from tests.system.test_system_flow import WAIT_S, Deployment, approve_link, authorize, deploy


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with deploy(tmp_path) as running:
        yield running


async def control(deployment: Deployment, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{deployment.sim.http_url}/control/{path}", json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def channels(deployment: Deployment) -> list[dict[str, Any]]:
    answer = await deployment.api.get("/channels")
    assert answer.status_code == 200, answer.text
    listed: list[dict[str, Any]] = answer.json()
    return listed


async def test_channels_are_added_by_link_and_device_code_and_removed(
    deployment: Deployment,
) -> None:
    await authorize(deployment)
    main = (await deployment.api.get("/tokens")).json()
    [default] = await channels(deployment)
    assert (default["login"], default["default"], default["status"]) == (
        main["login"],
        True,
        "authorized",
    )

    # By the link: the bot account approves it in its browser.
    started = (await deployment.api.post("/channels")).json()
    assert started["auth_url"] and started["device"]["user_code"]
    bot = await control(deployment, "oauth", {"authorize_as": "bot"})
    done = await approve_link(deployment, started["auth_url"])
    assert done["login"] == bot["login"]
    listed = await channels(deployment)
    assert [(c["login"], c["default"]) for c in listed] == [
        (main["login"], True),
        (bot["login"], False),
    ]
    # The default channel's token is untouched.
    assert (await deployment.api.get("/tokens")).json()["login"] == main["login"]

    # By the device code: the moderator account enters it at Twitch's activation page.
    started = (await deployment.api.post("/channels")).json()
    await control(
        deployment,
        "device/approve",
        {"user_code": started["device"]["user_code"], "user": "moderator"},
    )

    async def three() -> bool:
        return len({c["id"] for c in await channels(deployment)}) == 3

    await eventually(three, within_s=WAIT_S, what="the device-code channel added")

    # Removing: the default one is refused, an unknown one is 404, the bot goes.
    refused = await deployment.api.delete(f"/channels/{main['login']}")
    assert refused.status_code == 409
    assert refused.json()["error"] == "default_channel"
    missing = await deployment.api.delete("/channels/nobody-at-all")
    assert missing.status_code == 404
    # A worker kept state for the bot's channel: it goes with the channel.
    services = deployment.app.state.services
    worker = services.discovery.workers[0].name
    namespace = f"worker_state:{worker}:channel:{bot['user_id']}"
    await services.store.put(namespace, "count", "3")
    removed = await deployment.api.delete(f"/channels/{bot['login']}")
    assert removed.status_code == 200, removed.text
    assert removed.json()["status"] == "removed"
    assert removed.json()["state_keys_deleted"] == 1
    assert await services.store.get(namespace, "count") is None
    assert bot["login"] not in [c["login"] for c in await channels(deployment)]
    assert (await deployment.api.get("/tokens")).json()["login"] == main["login"]
