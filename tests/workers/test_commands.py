"""The shipped commands worker against the simulator: `!so` is for moderators and cools down,
`!commands` lists what the chatter may use, `!uptime` reads the stream; replies go to chat."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.polling import eventually
from tests.system.test_system_flow import WAIT_S, Deployment, authorize, deploy, gateway_connected


def chat(text: str, chatter: str, badges: list[str]) -> dict[str, Any]:
    return {
        "chatter_user_id": str(abs(hash(chatter)) % 10**8),
        "chatter_user_login": chatter,
        "chatter_user_name": chatter.title(),
        "message_id": f"msg-{chatter}-{abs(hash(text)) % 10**6}",
        "message": {"text": text, "fragments": [{"type": "text", "text": text}]},
        "badges": [{"set_id": badge, "id": "1", "info": ""} for badge in badges],
    }


async def replies(deployment: Deployment) -> list[str]:
    async with httpx.AsyncClient() as http:
        records = (await http.get(f"{deployment.sim.http_url}/control/chat")).json()["data"]
    return [r["message"] for r in records]


async def say(deployment: Deployment, text: str, chatter: str, badges: list[str]) -> None:
    await deployment.sim.trigger("channel.chat.message", event=chat(text, chatter, badges))


async def test_commands_answer_by_permission_and_cooldown(tmp_path: Path) -> None:
    async with deploy(tmp_path) as deployment:
        await authorize(deployment)
        assert (await deployment.api.post("/system/start")).status_code == 200
        await gateway_connected(deployment)
        sim = deployment.sim
        raider = sim.state.user("moderator")  # any real channel to shout out

        async def answered(count: int) -> bool:
            return len(await replies(deployment)) >= count

        # Everyone may list commands, and sees only theirs.
        await say(deployment, "!commands", "viewer", [])
        await eventually(lambda: answered(1), within_s=WAIT_S, what="!commands answered")
        assert (await replies(deployment))[-1] == "Commands: !commands, !uptime"

        # A viewer may not shout out: no answer. A moderator may, once per cooldown.
        await say(deployment, f"!so {raider.login}", "viewer", [])
        await say(deployment, f"!so @{raider.login}", "mod_one", ["moderator"])
        await eventually(lambda: answered(2), within_s=WAIT_S, what="!so answered")
        assert (await replies(deployment))[-1].startswith(f"Go follow {raider.display_name}")

        # The broadcaster skips cooldowns; a VIP (below moderator) may not use !so at all.
        await say(deployment, f"!shoutout {raider.login}", "boss", ["broadcaster"])
        await eventually(lambda: answered(3), within_s=WAIT_S, what="the alias answered")
        await say(deployment, "!uptime", "vip_one", ["vip"])
        await eventually(lambda: answered(4), within_s=WAIT_S, what="!uptime answered")
        assert (await replies(deployment))[-1].endswith("is offline.")
        # !uptime and !commands cool down for 10 s: a second viewer gets nothing, a moderator
        # (who skips cooldowns) gets the list with what moderators may use.
        await say(deployment, "!uptime", "viewer_two", [])
        await say(deployment, "!commands", "sub_one", ["subscriber"])
        await say(deployment, "!commands", "mod_two", ["moderator"])
        await eventually(lambda: answered(5), within_s=WAIT_S, what="the last command answered")
        texts = await replies(deployment)
        assert texts[-1] == "Commands: !commands, !so, !uptime"
        assert len(texts) == 5, texts
        assert sum(t.startswith("Go follow") for t in texts) == 2

        # Live: !uptime reads Get Streams.
        broadcaster = deployment.app.state.services.tokens.login
        async with httpx.AsyncClient() as http:
            live = await http.post(
                f"{sim.http_url}/control/channels/{broadcaster}/live", json={"live": True}
            )
        assert live.status_code == 200, live.text
        await say(deployment, "!uptime", "mod_one", ["moderator"])
        await eventually(lambda: answered(6), within_s=WAIT_S, what="!uptime live answered")
        assert (await replies(deployment))[-1] == f"{broadcaster} has been live for 0h 00m."

        status = (await deployment.api.get("/system/status")).json()
        workers = {w["name"]: w for w in status["workers"]}
        assert workers["commands"]["failed"] == 0
