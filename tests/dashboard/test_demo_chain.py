"""The whole chain from the dashboard: authorize, start, click a demo trigger, see the event.

simulator -> StreamCore gateway -> workers -> WS /ws/events -> the dashboard's live feed, with
StreamCore authorized against the simulator the real way (link, authorize, callback).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.conftest import free_port
from tests.dashboard.conftest import EMBEDDED_BUS
from tests.events.conftest import Server, run_streamcore

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WAIT_MS = 20_000


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[tuple[Server, Any]]:
    """StreamCore in demo mode (embedded bus) against a simulator that redirects back to it."""
    from simulator.testing import run_simulator

    port = free_port()
    callback = f"http://127.0.0.1:{port}/tokens/callback"
    async with run_simulator(
        redirect_uri=callback,
        device_poll_interval_s=0.05,
        device_slow_down_step_s=0.05,
        device_auto_approve_after_polls=3,
    ) as sim:
        overrides = {name.lower(): value for name, value in sim.env().items()}
        overrides["streamcore_demo_simulator_url"] = sim.http_url
        async with run_streamcore(tmp_path, EMBEDDED_BUS, port=port, **overrides) as server:
            yield server, sim


async def authorize(server: Server, sim: Any) -> None:
    """What a streamer's browser does: open the link, approve on Twitch, land on the callback."""
    async with httpx.AsyncClient(timeout=10) as http:
        link = await http.get(server.http_url + "/tokens/link")
        approved = await http.get(link.json()["auth_url"], follow_redirects=False)
        assert approved.status_code == 302
        callback = await http.get(
            approved.headers["location"], headers={"Accept": "application/json"}
        )
    assert callback.json()["status"] == "connected"
    assert callback.json()["login"] == sim.users["broadcaster"].login


def delivered_followers(sim: Any) -> list[str]:
    """Who followed in the notifications the simulator sent (the demo picks the names)."""
    names = []
    for session in sim.state.sessions.values():
        for _, text in session.recent:
            payload = json.loads(text).get("payload", {})
            if payload.get("subscription", {}).get("type") == "channel.follow":
                names.append(payload["event"]["user_name"])
    return names


async def test_demo_trigger_click_shows_the_event_in_the_live_feed(
    demo: tuple[Server, Any], browser: Browser
) -> None:
    server, sim = demo
    await authorize(server, sim)
    page = await browser.new_page()
    await page.goto(server.http_url + "/dashboard")
    await expect(page.locator("#auth-state")).to_have_text("Connected", timeout=WAIT_MS)
    await expect(page.locator("#auth-login")).to_have_text(sim.users["broadcaster"].login)
    await expect(page.locator("#feed-state")).to_have_text("live", timeout=WAIT_MS)
    await page.get_by_role("button", name="Start").click()
    await expect(page.locator("#run-state")).to_have_text("Running", timeout=WAIT_MS)
    await expect(page.locator("#gateway-state")).to_have_text("connected", timeout=WAIT_MS)
    follow = page.locator("#subscriptions tbody tr", has_text="channel.follow")
    await expect(follow).to_contain_text("enabled", timeout=WAIT_MS)

    await (
        page.get_by_role("group", name="Simulated events")
        .get_by_role("button", name="Follow")
        .click()
    )

    await expect(page.locator("#notice")).to_have_text("Follow sent.", timeout=WAIT_MS)
    (follower,) = delivered_followers(sim)
    alert = page.locator("#feed li", has_text="alert.follow")
    await expect(alert).to_have_count(1, timeout=WAIT_MS)
    await expect(alert).to_contain_text(f"{follower} followed!")
    row = page.locator("#workers tbody tr[data-worker='alerts']")
    await expect(row.locator("td").nth(3)).to_have_text("1", timeout=WAIT_MS)

    await page.get_by_role("button", name="Stop").click()
    await expect(page.locator("#run-state")).to_have_text("Stopped", timeout=WAIT_MS)


async def test_device_code_button_shows_the_code_and_follows_it_to_connected(
    demo: tuple[Server, Any], browser: Browser
) -> None:
    server, sim = demo
    page = await browser.new_page()
    await page.goto(server.http_url + "/dashboard")
    await expect(page.locator("#auth-state")).to_have_text("Authorization needed", timeout=WAIT_MS)
    await page.get_by_role("button", name="Use a device code").click()
    await expect(page.locator("#device-code")).not_to_be_empty(timeout=WAIT_MS)
    activate = re.compile("^" + re.escape(sim.http_url + "/oauth2/activate"))
    await expect(page.locator("#device-uri")).to_have_text(activate)
    await expect(page.locator("#device-uri")).to_have_attribute("href", activate)
    # The simulator approves by itself after a few polls, as a streamer typing the code would.
    login = sim.users["broadcaster"].login
    await expect(page.locator("#device-status")).to_have_text(
        f"Connected as {login}.", timeout=WAIT_MS
    )
    await expect(page.locator("#auth-state")).to_have_text("Connected", timeout=WAIT_MS)
