"""The browser kit and overlays in headless Chromium, against a real StreamCore on Redis."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from bus.redis import RedisBus
from events.publisher import EventPublisher
from tests.conftest import free_port
from tests.events.conftest import Server, run_streamcore
from tests.polling import eventually

# The `browser` fixture (headless Chromium) lives in tests/conftest.py.
pytestmark = [pytest.mark.browser, pytest.mark.slow]

USER = {"id": "1", "login": "ada", "name": "Ada"}
KIT = Path(__file__).resolve().parents[2] / "static" / "streamcore.js"


async def open_overlay(browser: Browser, server: Server, path: str) -> Page:
    page = await browser.new_page()
    await page.goto(server.http_url + path)
    await eventually(lambda: server.connected() >= 1, what="the overlay connected")
    return page


async def test_alert_box_shows_a_published_follow_and_queues_the_next(
    streamcore: Server, browser: Browser
) -> None:
    page = await open_overlay(browser, streamcore, "/overlays/alerts.html?duration=400")
    await streamcore.publisher.publish("alert.follow", {"user": USER, "followed_at": "now"})
    await streamcore.publisher.publish("alert.raid", {"user": USER, "viewers": 42})
    await expect(page.locator("#alert .title")).to_have_text("Ada followed!", timeout=10_000)
    await expect(page.locator("#alert .title")).to_have_text("Ada is raiding!", timeout=10_000)
    await expect(page.locator("#alert .detail")).to_have_text("42 viewers")
    # Queued, never overlapping: each alert was shown on its own, in order.
    assert await page.evaluate("window.alertsShown") == ["Ada followed!", "Ada is raiding!"]


async def test_chat_box_renders_emotes_from_fragments(streamcore: Server, browser: Browser) -> None:
    page = await open_overlay(browser, streamcore, "/overlays/chat.html")
    emote_url = streamcore.http_url + "/static/streamcore.js#emote.png"
    await streamcore.publisher.publish(
        "chat.message",
        {
            "id": "m1",
            "user": {**USER, "color": "#ff0000"},
            "text": "hi Kappa",
            "fragments": [
                {"type": "text", "text": "hi ", "emote": None},
                {"type": "emote", "text": "Kappa", "emote": {"id": "25", "url": emote_url}},
            ],
        },
    )
    message = page.locator("#chat .message")
    await expect(message).to_contain_text("Ada:hi", timeout=10_000)
    await expect(message.locator("img.emote")).to_have_attribute("src", emote_url)
    await expect(message.locator("img.emote")).to_have_attribute("alt", "Kappa")


async def test_page_resumes_after_a_server_restart_without_losing_an_event(
    tmp_path: Path, redis_url: str, browser: Browser
) -> None:
    port = free_port()
    async with run_streamcore(tmp_path, redis_url, port=port) as server:
        page = await open_overlay(browser, server, "/overlays/feed.html")
        await server.publisher.publish("alert.follow", {"user": USER, "followed_at": "now"})
        await expect(page.locator("#feed li")).to_have_count(1, timeout=10_000)
    # StreamCore is down: this event is only in Redis (the retention stream).
    bus = RedisBus(redis_url)
    await bus.connect()
    try:
        await EventPublisher(bus).publish("alert.cheer", {"user": USER, "bits": 500})
    finally:
        await bus.close()
    async with run_streamcore(tmp_path, redis_url, port=port) as server:
        await expect(page.locator("#feed li")).to_have_count(2, timeout=20_000)
        await expect(page.locator("#feed li").first).to_contain_text("Ada cheered 500 bits!")
        # And after that, live delivery on the resumed socket, with no duplicate.
        await server.publisher.publish("alert.raid", {"user": USER, "viewers": 7})
        await expect(page.locator("#feed li")).to_have_count(3, timeout=10_000)
        await expect(page.locator("#feed li").first).to_contain_text("Ada is raiding!")


async def test_page_resumes_when_the_server_closes_its_socket(
    streamcore: Server, browser: Browser
) -> None:
    page = await open_overlay(browser, streamcore, "/overlays/feed.html")
    broadcaster = streamcore.services.broadcaster
    assert broadcaster is not None
    await streamcore.publisher.publish("alert.follow", {"user": USER, "followed_at": "now"})
    await expect(page.locator("#feed li")).to_have_count(1, timeout=10_000)
    broadcaster.close_all(1012, "restarting")
    await eventually(lambda: streamcore.connected() == 0, what="every client disconnected")
    await streamcore.publisher.publish("alert.sub", {"user": USER, "tier": "1000"})
    await expect(page.locator("#feed li")).to_have_count(2, timeout=20_000)
    await expect(page.locator("#feed li").first).to_contain_text("Ada subscribed!")


async def test_the_browser_kit_delivers_an_id_once_even_when_it_arrives_twice(
    browser: Browser,
) -> None:
    # A resume or a retried emit can bring an event the page already has: streamcore.js
    # drops any id not newer than the last one it delivered. The socket here is a stand-in
    # the page controls, so the test feeds the exact frames it wants.
    page = await browser.new_page()
    await page.set_content("<html><body></body></html>")
    await page.evaluate(
        """() => {
        window.sockets = [];
        window.WebSocket = function (url) { this.url = url; window.sockets.push(this); };
        window.WebSocket.prototype.close = function () {};
    }"""
    )
    await page.add_script_tag(path=str(KIT))
    delivered = await page.evaluate(
        """() => {
        const seen = [];
        const sc = StreamCore.connect({ url: "ws://stand-in/ws/events" });
        sc.on("*", (data, envelope) => seen.push(envelope.id));
        const socket = window.sockets[0];
        socket.onopen();
        const frame = (id) => ({ data: JSON.stringify({ event: "x", data: {}, id, ts: "" }) });
        const ids = ["5-0", "5-1", "5-1", "4-9", "6-0", "5-1", "6-0"];
        for (const id of ids) socket.onmessage(frame(id));
        socket.onmessage({ data: JSON.stringify({ event: "system.pong", data: {}, id: null }) });
        return seen;
    }"""
    )
    assert delivered == ["5-0", "5-1", "6-0", None]


REDEMPTION = {
    "id": "r1",
    "user": USER,
    "reward": {"id": "w1", "title": "Song request", "cost": 2000, "prompt": "Name a song"},
    "input": "Lo-fi Girl - Snowman",
    "status": "unfulfilled",
    "redeemed_at": "now",
}


async def test_event_feed_shows_what_a_viewer_typed_with_a_redemption(
    streamcore: Server, browser: Browser
) -> None:
    # The redemptions worker emits the viewer's text as `input` (README, Events).
    page = await open_overlay(browser, streamcore, "/overlays/feed.html")
    await streamcore.publisher.publish("redemption", REDEMPTION)
    await expect(page.locator("#feed li").first).to_contain_text(
        "Ada redeemed Song request - Lo-fi Girl - Snowman", timeout=10_000
    )


async def test_alerts_say_one_bit_and_one_sub_and_plural_for_more(
    streamcore: Server, browser: Browser
) -> None:
    page = await open_overlay(browser, streamcore, "/overlays/feed.html")
    published = [
        ("alert.cheer", {"user": USER, "bits": 1, "message": "Cheer1"}),
        ("alert.cheer", {"user": USER, "bits": 250, "message": "Cheer250"}),
        ("alert.gift", {"user": USER, "count": 1, "tier": "1000"}),
        ("alert.gift", {"user": USER, "count": 5, "tier": "1000"}),
    ]
    for name, data in published:
        await streamcore.publisher.publish(name, data)
    items = page.locator("#feed li")
    await expect(items).to_have_count(4, timeout=10_000)
    texts = [await items.nth(i).inner_text() for i in range(4)]  # newest first
    assert texts[3].startswith("Ada cheered 1 bit! - Cheer1")
    assert texts[2].startswith("Ada cheered 250 bits! - Cheer250")
    assert texts[1].startswith("Ada gifted 1 sub! - Tier 1")
    assert texts[0].startswith("Ada gifted 5 subs! - Tier 1")


async def test_chat_box_shows_the_emote_name_when_its_image_cannot_load(
    streamcore: Server, browser: Browser
) -> None:
    # No internet (or the CDN is down): the image fails, and the name is shown instead.
    page = await open_overlay(browser, streamcore, "/overlays/chat.html")
    unreachable = f"http://127.0.0.1:{free_port()}/emoticons/v2/25/default/dark/1.0"
    await streamcore.publisher.publish(
        "chat.message",
        {
            "id": "m2",
            "user": USER,
            "text": "hi Kappa there",
            "fragments": [
                {"type": "text", "text": "hi ", "emote": None},
                {"type": "emote", "text": "Kappa", "emote": {"id": "25", "url": unreachable}},
                {"type": "text", "text": " there", "emote": None},
            ],
        },
    )
    message = page.locator("#chat .message")
    # Rendered text only (innerText): a broken image's alt text would not count.
    await expect(message).to_have_text(
        re.compile(r"^Ada:\s*hi Kappa there$"), use_inner_text=True, timeout=10_000
    )
    await expect(message.get_by_text("Kappa", exact=True)).to_be_visible()
    await expect(message.locator("img.emote")).to_be_hidden()
