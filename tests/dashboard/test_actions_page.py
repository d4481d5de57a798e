"""The dashboard's Actions card in headless Chromium, against a real StreamCore (uvicorn,
Redis) authorized against the simulator: list the actions, a form from chat.send's schema,
a field error, the one-click authorization of a missing scope, a message sent; and a client
key made with the actions it may call."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from app.routes.dashboard import ASSETS_DIR
from tests.conftest import free_port
from tests.dashboard.conftest import ADMIN_TOKEN
from tests.dashboard.test_channels_page import log_in
from tests.events.conftest import Server, run_streamcore

#: Generous: a busy 2-core machine runs these next to other test suites.
WAIT_MS = 20_000
BUILT_INS = (
    "chat.send",
    "chat.reply",
    "chat.announce",
    "shoutout",
    "clip.create",
    "marker.create",
    "poll.create",
    "prediction.create",
)


async def run(page: Page) -> str:
    """Press Run and wait for the answer: "ok" or the error code."""
    await page.get_by_role("button", name="Run", exact=True).click()
    outcome = page.locator("#action-outcome .pill")
    await expect(outcome).to_have_count(1, timeout=WAIT_MS)
    return (await outcome.text_content() or "").strip()


async def authorize_in_a_new_tab(page: Page) -> None:
    """Follow the answer's "Authorize" link (a new tab): the simulator approves at once and
    Twitch's redirect lands on StreamCore's callback page."""
    link = page.locator("#action-auth").get_by_role("link", name="Authorize")
    await expect(link).to_have_attribute("href", re.compile(r"^https?://"))
    async with page.context.expect_page(timeout=WAIT_MS) as opened:
        await link.click()
    tab = await opened.value
    await expect(tab.get_by_text("Connected as")).to_be_visible(timeout=WAIT_MS)
    await tab.close()


@asynccontextmanager
async def authorized_dashboard(
    tmp_path: Path, redis_url: str, browser: Browser
) -> AsyncIterator[tuple[Any, Server, Page, list[str]]]:
    """The simulator and a StreamCore with an admin token; a page logged in to the dashboard
    after the broadcaster authorized. Yields (simulator, server, page, script errors)."""
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
            yield sim, server, page, script_errors


@pytest.mark.browser
@pytest.mark.slow
async def test_actions_are_listed_run_from_a_form_and_keys_get_actions(
    tmp_path: Path, redis_url: str, browser: Browser
) -> None:
    async with authorized_dashboard(tmp_path, redis_url, browser) as (
        sim,
        server,
        page,
        script_errors,
    ):
        # Every built-in action is listed with its description and scopes.
        listed = page.locator("#actions-list tbody tr")
        await expect(listed.first).to_be_visible(timeout=WAIT_MS)
        for name in BUILT_INS:
            await expect(page.locator(f'#actions-list tr[data-action="{name}"]')).to_have_count(1)
        send_row = page.locator('#actions-list tr[data-action="chat.send"]')
        await expect(send_row).to_contain_text("Send a chat message")
        await expect(send_row).to_contain_text("user:write:chat")

        # chat.send's form: its message (required) and reply_to, and the channel.
        await send_row.get_by_role("button", name="chat.send").click()
        form = page.locator("#action-form")
        await expect(form).to_be_visible()
        await expect(page.locator("#action-form-title")).to_have_text("chat.send")
        message = form.locator('[data-field="message"]')
        await expect(message.locator(".required")).to_be_visible()
        await expect(form.locator('[data-field="reply_to"] .required')).to_have_count(0)
        await expect(page.locator("#action-channel option")).to_have_count(2, timeout=WAIT_MS)
        # The enum of chat.announce is a select; poll.create's choices a text input.
        await page.locator('#actions-list tr[data-action="chat.announce"] button').click()
        color = form.locator('[data-field="color"] select')
        await expect(color).to_have_value('"primary"')
        await expect(color.locator("option")).to_have_count(5)
        await page.locator('#actions-list tr[data-action="chat.send"] button').click()

        # An empty message: the server's field error appears next to the field.
        assert await run(page) == "invalid_args"
        error = message.locator(".field-error")
        await expect(error).to_be_visible()
        await expect(error).to_contain_text(re.compile("at least 1 character"))
        await expect(message.locator("input")).to_have_attribute("aria-invalid", "true")

        # The message: without the scope, an "Authorize" link asks for it (one click).
        await message.locator("input").fill("hello from the dashboard")
        outcome = await run(page)
        assert outcome in ("ok", "auth_required"), outcome
        if outcome == "auth_required":
            await expect(error).to_be_hidden()
            await expect(page.locator("#action-auth-text")).to_contain_text("user:write:chat")
            await authorize_in_a_new_tab(page)
            outcome = await run(page)
        assert outcome == "ok"
        await expect(page.locator("#action-auth")).to_be_hidden()
        result = json.loads(await page.locator("#action-result-json").text_content() or "")
        assert result["is_sent"] is True and result["message_id"]

        # chat.announce needs a scope no worker asks for: the "Authorize" link grants it
        # in one click, and the same call then runs.
        await page.locator('#actions-list tr[data-action="chat.announce"] button').click()
        announce = form.locator('[data-field="message"] input')
        await announce.fill("The stream starts now")
        await color.select_option(label="purple")
        assert await run(page) == "auth_required"
        await expect(page.locator("#action-outcome")).to_contain_text(
            "moderator:manage:announcements"
        )
        await authorize_in_a_new_tab(page)
        assert await run(page) == "ok"
        await expect(page.locator("#action-result-json")).to_contain_text('"sent": true')
        async with httpx.AsyncClient(timeout=10) as http:
            done = (await http.get(f"{sim.http_url}/control/actions")).json()
        by_kind = {record["kind"]: record for record in done["data"]}
        assert by_kind["chat_message"]["message"] == "hello from the dashboard"
        assert by_kind["chat_message"]["message_id"] == result["message_id"]
        assert by_kind["announcement"]["message"] == "The stream starts now"
        assert by_kind["announcement"]["color"] == "purple"

        # A key that may call chat.send, made with the keys form and listed with it.
        await page.get_by_label("Name", exact=True).fill("stream-deck")
        await page.get_by_label("May call actions").fill("chat.send")
        await page.get_by_role("button", name="Create key").click()
        key_value = page.locator("#new-key-value")
        await expect(key_value).to_have_text(re.compile("^sck_"), timeout=WAIT_MS)
        row = page.locator('#keys tbody tr[data-key="stream-deck"]')
        await expect(row).to_contain_text("chat.send", timeout=WAIT_MS)
        key = await key_value.text_content()
        async with httpx.AsyncClient(
            base_url=server.http_url,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        ) as api:
            keys = (await api.get("/keys")).json()
            assert [(k["name"], k["actions"]) for k in keys] == [("stream-deck", "chat.send")]
            # It may call chat.send and nothing else.
            async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
                sent = await client.post(
                    f"/actions/chat.send?key={key}", json={"message": "from a key"}
                )
                refused = await client.post(f"/actions/shoutout?key={key}", json={"to": "x"})
        assert sent.status_code == 200, sent.text
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
        assert script_errors == []


def test_the_actions_script_puts_data_into_the_page_as_text_only() -> None:
    script = (ASSETS_DIR / "actions.js").read_text()
    for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script
