"""A page calls an action through streamcore.js in headless Chromium: `sc.call("chat.send")`
reaches the simulator's chat, a refused call rejects with the server's code, and
`sc.subscribe` changes what arrives without reconnecting."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.async_api import Browser

from events.publisher import EventPublisher
from tests.actions.test_socket_requests import grant_chat, served

CONNECT = """async () => {
  window.sc = StreamCore.connect({ events: "alert.follow" });
  window.seen = [];
  window.sc.on("alert.*", (data, envelope) => window.seen.push(envelope.event));
  for (let i = 0; i < 100 && !(window.sc.socket && window.sc.socket.readyState === 1); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return window.sc.socket.readyState;
}"""


async def test_a_page_sends_chat_through_an_action(tmp_path: Path, browser: Browser) -> None:
    async with served(tmp_path) as stack:
        await grant_chat(stack)
        page = await browser.new_page()
        await page.goto(f"{stack.base}/overlays/feed.html")
        assert await page.evaluate(CONNECT) == 1
        result = await page.evaluate(
            """async () => await window.sc.call("chat.send", { message: "from the browser" })"""
        )
        assert result["is_sent"] is True
        async with httpx.AsyncClient() as http:
            chat = (await http.get(f"{stack.sim.http_url}/control/chat")).json()["data"]
        [sent] = [m for m in chat if m["message"] == "from the browser"]
        assert sent["message_id"] == result["message_id"]
        assert sent["sender_id"] == stack.app.state.services.tokens.user_id
        refused = await page.evaluate(
            """async () => {
              try { await window.sc.call("chat.send", { message: "" }); return "resolved"; }
              catch (e) { return e.code; }
            }"""
        )
        assert refused == "invalid_args"
        answer = await page.evaluate("""async () => await window.sc.subscribe(["alert.cheer"])""")
        assert answer == {"events": ["alert.follow", "alert.cheer"]}
        await EventPublisher(stack.app.state.services.bus).publish("alert.cheer", {})
        await page.wait_for_function("window.seen.includes('alert.cheer')", timeout=10_000)
