"""The dashboard in headless Chromium, against a real StreamCore (uvicorn, Redis)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.dashboard.conftest import ADMIN_TOKEN, EMBEDDED_BUS
from tests.events.conftest import Server, run_streamcore
from tests.polling import eventually

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Generous: a busy 2-core machine runs these next to other test suites.
WAIT_MS = 15_000


async def open_dashboard(browser: Browser, server: Server) -> Page:
    page = await browser.new_page()
    await page.goto(server.http_url + "/dashboard")
    return page


async def test_dashboard_renders_status_workers_overlays_and_a_live_feed(
    streamcore: Server, browser: Browser
) -> None:
    page = await browser.new_page()
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    await page.goto(streamcore.http_url + "/dashboard")
    await expect(page.locator("#run-state")).to_have_text("Stopped", timeout=WAIT_MS)
    await expect(page.locator("#auth-state")).to_have_text("Authorization needed")
    await expect(page.locator("#auth-link")).to_be_visible()
    await expect(page.locator("#start-btn")).to_be_enabled()
    await expect(page.locator("#stop-btn")).to_be_disabled()
    await expect(page.locator("#gateway-state")).to_have_text("stopped")
    # The cluster card lists this replica (the only one), alive, as the coordinator.
    replicas = page.locator("#replicas tbody tr")
    await expect(replicas).to_have_count(1, timeout=WAIT_MS)
    await expect(replicas.first).to_contain_text("(this one)")
    await expect(replicas.first).to_contain_text("alive")
    await expect(page.locator("#cluster-coordinator")).not_to_have_text("none", timeout=WAIT_MS)
    workers = page.locator("#workers tbody tr")
    await expect(workers.first).to_be_visible()
    assert await workers.count() >= 4  # the shipped workers: alerts, chat, redemptions, ...
    await expect(page.locator("#workers")).to_contain_text("channel.follow")
    urls = page.locator("#overlay-urls a")
    await expect(urls).to_have_count(3)
    await expect(urls.nth(0)).to_have_text(streamcore.http_url + "/overlays/alerts.html")
    # The live feed is a /ws/events client itself, so it counts among the connected clients.
    await expect(page.locator("#feed-state")).to_have_text("live", timeout=WAIT_MS)
    await expect(page.locator("#clients-connected")).to_have_text("1", timeout=WAIT_MS)
    # Not in demo mode: no trigger buttons; no admin token: no logout button.
    await expect(page.locator("#demo-card")).to_be_hidden()
    await expect(page.locator("#logout-form")).to_be_hidden()
    assert script_errors == []


async def test_live_feed_shows_published_events_as_text_never_as_markup(
    embedded_streamcore: Server, browser: Browser
) -> None:
    page = await open_dashboard(browser, embedded_streamcore)
    await expect(page.locator("#feed-state")).to_have_text("live", timeout=WAIT_MS)
    user = {"id": "1", "login": "mallory", "name": "<img src=x onerror=alert(1)>"}
    await embedded_streamcore.publisher.publish(
        "chat.message", {"id": "m1", "user": user, "text": "<b>hi</b>"}
    )
    item = page.locator("#feed li").first
    await expect(item).to_contain_text("<img src=x onerror=alert(1)>: <b>hi</b>", timeout=WAIT_MS)
    await expect(item.locator(".event-name")).to_have_text("chat.message")
    assert await page.locator("#feed img, #feed b").count() == 0


async def test_login_flow_in_the_browser(tmp_path: Path, redis_url: str, browser: Browser) -> None:
    async with run_streamcore(tmp_path, redis_url, streamcore_admin_token=ADMIN_TOKEN) as server:
        page = await open_dashboard(browser, server)
        await expect(page).to_have_url(server.http_url + "/dashboard/login")
        await page.get_by_label("Admin token").fill("wrong-token-but-long-enough")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("alert")).to_contain_text("That is not the admin token")
        await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(server.http_url + "/dashboard")
        await expect(page.locator("#run-state")).to_have_text("Stopped", timeout=WAIT_MS)
        await expect(page.locator("#feed-state")).to_have_text("live", timeout=WAIT_MS)
        cookies = await page.context.cookies()
        (cookie,) = [c for c in cookies if c["name"] == "streamcore_admin"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        await page.get_by_role("button", name="Log out").click()
        await expect(page).to_have_url(server.http_url + "/dashboard/login")
        await page.goto(server.http_url + "/dashboard")
        await expect(page).to_have_url(server.http_url + "/dashboard/login")


async def test_a_created_key_is_shown_once_goes_into_overlay_urls_and_can_be_revoked(
    streamcore: Server, browser: Browser
) -> None:
    page = await open_dashboard(browser, streamcore)
    page.on("dialog", lambda dialog: dialog.accept())
    await page.get_by_label("Name").fill("obs-alerts")
    await page.get_by_role("checkbox", name="Alerts", exact=True).check()
    await page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key-value")
    await expect(key).to_have_text(re.compile(r"^sck_"), timeout=WAIT_MS)
    value = await key.text_content()
    assert value is not None
    row = page.locator("#keys tbody tr", has_text="obs-alerts")
    await expect(row).to_contain_text("alert.*")
    assert value not in await row.inner_text()  # listed without the key itself
    await expect(page.locator("#overlay-urls a").first).to_have_text(
        f"{streamcore.http_url}/overlays/alerts.html?key={value}"
    )
    await page.get_by_role("button", name="Revoke key obs-alerts").click()
    await expect(row).to_have_count(0, timeout=WAIT_MS)
    await expect(page.locator("#keys-empty")).to_be_visible()


async def test_feed_asks_for_a_key_when_the_server_requires_one(
    tmp_path: Path, browser: Browser
) -> None:
    async with run_streamcore(tmp_path, EMBEDDED_BUS, ws_require_auth=True) as server:
        page = await open_dashboard(browser, server)
        await expect(page.locator("#feed-state")).to_have_text("needs a key", timeout=WAIT_MS)
        await expect(page.get_by_label("The live feed needs a client key")).to_be_visible()
        await page.get_by_label("Name").fill("dashboard")
        await page.get_by_role("button", name="Create key").click()
        await expect(page.locator("#new-key-value")).to_have_text(
            re.compile("^sck_"), timeout=WAIT_MS
        )
        key = await page.locator("#new-key-value").text_content()
        assert key
        await page.get_by_label("The live feed needs a client key").fill(key)
        await page.get_by_role("button", name="Connect").click()
        await expect(page.locator("#feed-state")).to_have_text("live", timeout=WAIT_MS)
        await eventually(lambda: server.connected() == 1, what="1 client connected")
        await server.publisher.publish("alert.raid", {"user": {"name": "Ada"}, "viewers": 3})
        await expect(page.locator("#feed li").first).to_contain_text("Ada is raiding!")


async def test_live_feed_lists_the_recent_history_when_the_page_opens(
    streamcore: Server, browser: Browser
) -> None:
    # Events that went out before the page was opened are in the event log's retention: the
    # feed replays it (the newest FEED_MAX = 100, newest first).
    for number in range(1, 106):
        await streamcore.publisher.publish(
            "alert.raid", {"user": {"name": f"Raider{number}"}, "viewers": number}
        )
    page = await open_dashboard(browser, streamcore)
    await expect(page.locator("#feed-state")).to_have_text("live", timeout=WAIT_MS)
    items = page.locator("#feed li")
    await expect(items).to_have_count(100, timeout=WAIT_MS)
    await expect(items.first).to_contain_text("Raider105 is raiding!")
    await expect(items.last).to_contain_text("Raider6 is raiding!")
    await expect(page.locator("#feed-empty")).to_be_hidden()
    # And live events still arrive on top, once each.
    await streamcore.publisher.publish("alert.follow", {"user": {"name": "Newcomer"}})
    await expect(items.first).to_contain_text("Newcomer followed!", timeout=WAIT_MS)
    await expect(items).to_have_count(100)
    await expect(page.locator("#feed li", has_text="Raider105 is")).to_have_count(1)


async def test_live_feed_shows_what_a_viewer_typed_with_a_redemption(
    embedded_streamcore: Server, browser: Browser
) -> None:
    page = await open_dashboard(browser, embedded_streamcore)
    await expect(page.locator("#feed-state")).to_have_text("live", timeout=WAIT_MS)
    await embedded_streamcore.publisher.publish(
        "redemption",
        {
            "id": "r1",
            "user": {"id": "1", "login": "ada", "name": "Ada"},
            "reward": {"id": "w1", "title": "Song request", "cost": 2000, "prompt": "A song"},
            "input": "C418 - Sweden",
            "status": "unfulfilled",
            "redeemed_at": "now",
        },
    )
    await expect(page.locator("#feed li").first).to_contain_text(
        "Ada redeemed Song request · C418 - Sweden", timeout=WAIT_MS
    )


async def test_authorize_without_a_twitch_application_says_which_settings_to_set(
    tmp_path: Path, browser: Browser
) -> None:
    async with run_streamcore(
        tmp_path, EMBEDDED_BUS, twitch_client_id="", twitch_client_secret=""
    ) as server:
        page = await open_dashboard(browser, server)
        link = page.get_by_role("link", name="Authorize on Twitch")
        await expect(link).to_be_visible(timeout=WAIT_MS)
        await link.click()
        setup = page.locator("#auth-setup")
        await expect(setup).to_be_visible(timeout=WAIT_MS)
        for setting in ("TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET", "TWITCH_REDIRECT_URI"):
            await expect(setup).to_contain_text(setting)
        await expect(setup).to_contain_text("README.md")
        await expect(setup).to_contain_text("To connect a real channel")
        await expect(setup.get_by_role("link", name="dev.twitch.tv/console/apps")).to_be_visible()
        await expect(setup).to_contain_text(f"localhost:{server.port}/tokens/callback")
        # Still the dashboard: not the bare JSON error of /tokens/authorize.
        await expect(page).to_have_url(server.http_url + "/dashboard")


async def test_authorize_with_a_twitch_application_goes_through_twitch_and_connects(
    tmp_path: Path, browser: Browser
) -> None:
    from simulator.testing import run_simulator
    from tests.conftest import free_port

    port = free_port()
    async with run_simulator(redirect_uri=f"http://127.0.0.1:{port}/tokens/callback") as sim:
        settings = {name.lower(): value for name, value in sim.env().items()}
        async with run_streamcore(tmp_path, EMBEDDED_BUS, port=port, **settings) as server:
            page = await open_dashboard(browser, server)
            await page.get_by_role("link", name="Authorize on Twitch").click(timeout=WAIT_MS)
            # The simulated Twitch approves at once and sends the browser to the callback.
            await expect(page.get_by_text("Connected as")).to_be_visible(timeout=WAIT_MS)
            assert page.url.startswith(server.http_url + "/tokens/callback?code=")
            await page.goto(server.http_url + "/dashboard")
            await expect(page.locator("#auth-state")).to_have_text("Connected", timeout=WAIT_MS)
