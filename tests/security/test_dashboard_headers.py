"""Item 7: clickjacking. Every dashboard response carries the security headers (no framing),
and the HTML pages are not reachable as static assets, where they would carry none."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.security.conftest import ADMIN_TOKEN, http, serving


def _assert_protected(headers: httpx.Headers, what: str) -> None:
    assert headers["x-frame-options"] == "DENY", what
    assert "frame-ancestors 'none'" in headers["content-security-policy"], what
    assert headers["x-content-type-options"] == "nosniff", what


@pytest.mark.parametrize("page", ["index.html", "login.html", "refused.html"])
async def test_the_pages_are_not_served_as_assets(tmp_path: Path, page: str) -> None:
    async with serving(tmp_path) as app, http(app) as api:
        response = await api.get(f"/dashboard/assets/{page}")
    assert response.status_code == 404
    assert "StreamCore" not in response.text


@pytest.mark.parametrize("asset", ["dashboard.js", "common.js", "keys.js", "dashboard.css"])
async def test_the_assets_carry_the_security_headers(tmp_path: Path, asset: str) -> None:
    async with serving(tmp_path) as app, http(app) as api:
        response = await api.get(f"/dashboard/assets/{asset}")
    assert response.status_code == 200
    _assert_protected(response.headers, asset)


async def test_every_dashboard_answer_carries_them(tmp_path: Path) -> None:
    async with serving(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app, http(app) as api:
        answers = {
            "page redirect": await api.get("/dashboard"),
            "login form": await api.get("/dashboard/login"),
            "config refused": await api.get("/dashboard/config"),
            "missing asset": await api.get("/dashboard/assets/nothing.js"),
        }
    assert answers["login form"].headers["cache-control"] == "no-store"
    for what, response in answers.items():
        _assert_protected(response.headers, what)
