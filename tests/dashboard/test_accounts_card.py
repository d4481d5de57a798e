"""The dashboard's bot and moderator accounts in headless Chromium, against a real StreamCore
(uvicorn, Redis) authorized against the simulator: the bot authorizes from its row (signed in
to Twitch as the bot), shows up with its login, and is removed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.dashboard.conftest import ADMIN_TOKEN
from tests.dashboard.test_actions_page import WAIT_MS, authorized_dashboard


@pytest.mark.browser
@pytest.mark.slow
async def test_the_bot_account_is_authorized_shown_and_removed_from_the_dashboard(
    tmp_path: Path, redis_url: str, browser: Browser
) -> None:
    async with authorized_dashboard(tmp_path, redis_url, browser) as (
        sim,
        server,
        page,
        script_errors,
    ):
        bot_row = page.locator('#accounts li[data-role="bot"]')
        await expect(bot_row).to_contain_text("not set", timeout=WAIT_MS)
        await expect(page.locator('#accounts li[data-role="moderator"]')).to_contain_text("not set")
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
