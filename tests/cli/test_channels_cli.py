"""`streamcore channels add|list|remove` against a served StreamCore and the simulator."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from cli.main import main
from tests.gateway.test_webhook_transport import authorize_and_start, stack_on, webhook_world
from tests.polling import eventually


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = await asyncio.to_thread(main, ["channels", *argv])
    return code, capsys.readouterr().out


async def test_add_list_and_remove_through_the_running_streamcore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with webhook_world(tmp_path) as (sim, settings), stack_on(sim, settings) as stack:
        await authorize_and_start(stack)
        code, out = await cli(capsys, "list", "--url", stack.base)
        assert code == 0
        assert "(default)" in out and len(out.strip().splitlines()) == 1

        code, out = await cli(capsys, "add", "--no-wait", "--url", stack.base)
        assert code == 0
        assert "a link to open:" in out
        user_code = re.search(r"or a code:\s+(\S+) at ", out)
        assert user_code is not None, out
        async with httpx.AsyncClient() as http:
            approved = await http.post(
                f"{sim.http_url}/control/device/approve",
                json={"user_code": user_code.group(1), "user": "bot"},
            )
        assert approved.status_code == 200, approved.text
        bot_login = sim.state.user("bot").login

        async def listed() -> bool:
            _, now = await cli(capsys, "list", "--url", stack.base)
            return bot_login in now

        await eventually(listed, within_s=15, what="the bot's channel listed")
        code, out = await cli(capsys, "remove", bot_login, "--url", stack.base)
        assert code == 0 and f"Removed {bot_login}" in out
        code, out = await cli(capsys, "list", "--url", stack.base)
        assert bot_login not in out
        code, out = await cli(capsys, "remove", "nobody-here", "--url", stack.base)
        assert code != 0
