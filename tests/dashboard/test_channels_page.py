"""The dashboard's Channels card in headless Chromium, against a real StreamCore (uvicorn,
Redis) authorized against the simulator: list, add by device code, overlay URLs with
`channel=`, a key bound to the channel, remove."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from app.routes.dashboard import ASSETS_DIR
from tests.conftest import free_port
from tests.dashboard.conftest import ADMIN_TOKEN
from tests.events.conftest import Server, run_streamcore

#: Generous: a busy 2-core machine runs these next to other test suites.
WAIT_MS = 20_000


async def log_in(page: Page, server: Server) -> None:
    await page.goto(server.http_url + "/dashboard")
    await expect(page).to_have_url(server.http_url + "/dashboard/login")
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(server.http_url + "/dashboard")


@pytest.mark.browser
@pytest.mark.slow
async def test_channels_are_listed_added_by_device_code_given_overlays_and_removed(
    tmp_path: Path, redis_url: str, browser: Browser
) -> None:
    from simulator.testing import run_simulator

    port = free_port()
    async with run_simulator(
        redirect_uri=f"http://127.0.0.1:{port}/tokens/callback",
        device_poll_interval_s=0.05,
        device_slow_down_step_s=0.05,
    ) as sim:
        settings = {name.lower(): value for name, value in sim.env().items()}
        async with run_streamcore(
            tmp_path, redis_url, port=port, streamcore_admin_token=ADMIN_TOKEN, **settings
        ) as server:
            broadcaster = sim.users["broadcaster"].login
            bot = sim.users["bot"].login
            page = await browser.new_page()
            script_errors: list[str] = []
            page.on("pageerror", lambda error: script_errors.append(str(error)))
            page.on("dialog", lambda dialog: dialog.accept())
            await log_in(page, server)

            # The default channel: the first authorization (the Twitch connection card).
            await page.get_by_role("link", name="Authorize on Twitch").click(timeout=WAIT_MS)
            await expect(page.get_by_text("Connected as")).to_be_visible(timeout=WAIT_MS)
            await page.goto(server.http_url + "/dashboard")
            rows = page.locator("#channels tbody tr")
            await expect(rows).to_have_count(1, timeout=WAIT_MS)
            default = rows.first
            await expect(default).to_have_attribute("data-channel", broadcaster)
            await expect(default.locator(".channel-default")).to_have_text("default")
            await expect(default.get_by_role("button", name=re.compile("^Remove"))).to_have_count(0)
            await expect(page.locator("#channels-empty")).to_be_hidden()

            # Add channel: a link and a device code; the bot approves the code on "Twitch".
            await page.get_by_role("button", name="Add channel").click()
            code = page.locator("#channel-device-code")
            await expect(code).to_have_text(re.compile(r"\S"), timeout=WAIT_MS)
            await expect(page.locator("#channel-auth-link")).to_have_attribute(
                "href", re.compile(r"^https?://")
            )
            await expect(page.locator("#channel-device-uri")).to_have_text(re.compile("^http"))
            user_code = await code.text_content()
            async with httpx.AsyncClient(timeout=10) as http:
                approved = await http.post(
                    f"{sim.http_url}/control/device/approve",
                    json={"user_code": user_code, "user": "bot"},
                )
            assert approved.status_code == 200, approved.text
            added = page.locator(f'#channels tbody tr[data-channel="{bot}"]')
            await expect(added).to_have_count(1, timeout=WAIT_MS)
            await expect(page.locator("#channel-auth-status")).to_have_text(f"Added {bot}.")
            await expect(rows.first).to_have_attribute("data-channel", broadcaster)
            await expect(added.locator(".channel-default")).to_have_count(0)
            await expect(added).to_contain_text(re.compile(r"ok|missing scopes: "))

            # Its overlay URLs follow only it; a key made for it is bound to it.
            await added.get_by_text("Overlay URLs").click()
            alerts = added.locator('li[data-overlay="/overlays/alerts.html"] a')
            await expect(alerts).to_have_text(
                f"{server.http_url}/overlays/alerts.html?channel={bot}"
            )
            await added.get_by_role("button", name=f"New client key bound to {bot}").click()
            key_value = page.locator("#channel-key-value")
            await expect(key_value).to_have_text(re.compile("^sck_"), timeout=WAIT_MS)
            key = await key_value.text_content()
            await expect(alerts).to_have_text(
                f"{server.http_url}/overlays/alerts.html?key={key}&channel={bot}"
            )
            await expect(page.locator("#keys tbody tr", has_text=bot)).to_have_count(1)
            async with httpx.AsyncClient(
                base_url=server.http_url,
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                timeout=10,
            ) as api:
                listed = (await api.get("/channels")).json()
                keys = (await api.get("/keys")).json()
            bot_id = next(channel["id"] for channel in listed if channel["login"] == bot)
            assert [record["channels"] for record in keys] == [bot_id]

            # Remove it (the confirmation is accepted): gone from the table.
            await added.get_by_role("button", name=f"Remove channel {bot}").click()
            await expect(added).to_have_count(0, timeout=WAIT_MS)
            await expect(rows).to_have_count(1)
            await expect(page.locator("#notice")).to_contain_text(f"Channel {bot} removed.")
            assert script_errors == []


def test_the_channels_script_puts_data_into_the_page_as_text_only() -> None:
    script = (ASSETS_DIR / "channels.js").read_text()
    for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in script
