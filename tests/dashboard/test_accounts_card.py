"""The dashboard's bot and moderator accounts in headless Chromium, against a real StreamCore
(uvicorn, Redis) authorized against the simulator: the bot authorizes from its row (signed in
to Twitch as the bot), shows up with its login, and is removed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.conftest import free_port
from tests.dashboard.conftest import ADMIN_TOKEN
from tests.dashboard.test_channels_page import log_in
from tests.events.conftest import run_streamcore

WAIT_MS = 20_000


@pytest.mark.browser
@pytest.mark.slow
async def test_the_bot_account_is_authorized_shown_and_removed_from_the_dashboard(
    tmp_path: Path, redis_url: str, browser: Browser
) -> None:
    from simulator.testing import run_simulator

    port = free_port()
    async with run_simulator(redirect_uri=f"http://127.0.0.1:{port}/tokens/callback") as sim:
        settings = {name.lower(): value for name, value in sim.env().items()}
        async with run_streamcore(
            tmp_path, redis_url, port=port, streamcore_admin_token=ADMIN_TOKEN, **settings
        ) as server:
            page = await browser.new_page()
            script_errors: list[str] = []
            page.on("pageerror", lambda error: script_errors.append(str(error)))
            await log_in(page, server)
            await page.get_by_role("link", name="Authorize on Twitch").click(timeout=WAIT_MS)
            await expect(page.get_by_text("Connected as")).to_be_visible(timeout=WAIT_MS)
            await page.goto(server.http_url + "/dashboard")

            bot_row = page.locator('#accounts li[data-role="bot"]')
            await expect(bot_row).to_contain_text("not set", timeout=WAIT_MS)
            await expect(page.locator('#accounts li[data-role="moderator"]')).to_contain_text(
                "not set"
            )
            # Twitch (the simulator) now signs in as the bot, who approves the link.
            async with httpx.AsyncClient(timeout=10) as http:
                await http.post(f"{sim.http_url}/control/oauth", json={"authorize_as": "bot"})
            await bot_row.get_by_role("button", name="Authorize").click()
            bot = sim.users["bot"]
            await expect(page.get_by_text(f"{bot.login} is now the bot account")).to_be_visible(
                timeout=WAIT_MS
            )
            await page.goto(server.http_url + "/dashboard")
            await expect(bot_row).to_contain_text(bot.login, timeout=WAIT_MS)
            await expect(bot_row.locator(".pill")).to_have_text("ok")

            await bot_row.get_by_role("button", name="Remove the bot account").click()
            await expect(bot_row).to_contain_text("not set", timeout=WAIT_MS)
            async with httpx.AsyncClient(
                base_url=server.http_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            ) as api:
                assert (await api.get("/tokens")).json()["accounts"] == {}
            assert script_errors == []
