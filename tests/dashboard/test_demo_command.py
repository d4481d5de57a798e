"""`streamcore demo` on a fresh checkout: a click on the dashboard's Follow button shows the
alert in the overlay page. Run as a user runs it: the real command in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.conftest import free_port

pytestmark = pytest.mark.slow  # `streamcore demo` runs as a subprocess

REPO = Path(__file__).resolve().parents[2]
WAIT_MS = 20_000


@pytest.fixture
def demo_command(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    port, simulator_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TWITCH_", "REDIS_", "DATABASE_", "POSTGRES_", "STREAMCORE_"))
    }
    env["PYTHONPATH"] = str(REPO)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "demo",
            "--port",
            str(port),
            "--simulator-port",
            str(simulator_port),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        seen: list[str] = []
        for line in process.stdout:
            seen.append(line)
            if "Press Ctrl+C to stop." in line:
                break
            if time.monotonic() > deadline:
                break
        assert any("Dashboard" in line for line in seen), "".join(seen)
        yield port, process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        finally:
            if process.stdout is not None:
                process.stdout.close()


def test_demo_prints_the_urls_and_runs_authorized(
    demo_command: tuple[int, subprocess.Popen[str]],
) -> None:
    port, _ = demo_command
    status = httpx.get(f"http://127.0.0.1:{port}/system/status", timeout=10).json()
    assert status["running"] is True
    assert status["auth"]["state"] == "ok"
    printed = subprocess.run(
        [sys.executable, "-m", "cli.main", "status", "--url", f"http://127.0.0.1:{port}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert printed.returncode == 0, printed.stderr
    assert ": running (bus memory, store sqlite)" in printed.stdout


@pytest.mark.browser
async def test_trigger_follow_click_shows_the_alert_in_the_overlay(
    demo_command: tuple[int, subprocess.Popen[str]], browser: Browser
) -> None:
    port, _ = demo_command
    base = f"http://127.0.0.1:{port}"
    overlay = await browser.new_page()
    await overlay.goto(f"{base}/overlays/alerts.html")
    dashboard = await browser.new_page()
    await dashboard.goto(f"{base}/dashboard")
    await expect(dashboard.locator("#run-state")).to_have_text("Running", timeout=WAIT_MS)
    follow = dashboard.locator("#subscriptions tbody tr", has_text="channel.follow")
    await expect(follow).to_contain_text("enabled", timeout=WAIT_MS)
    await (
        dashboard.get_by_role("group", name="Simulated events")
        .get_by_role("button", name="Follow")
        .click()
    )
    await expect(overlay.locator("#alert .title")).to_contain_text("followed!", timeout=WAIT_MS)
