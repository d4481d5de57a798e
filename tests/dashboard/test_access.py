"""Who gets the dashboard: the login form, the cookie, logout, and the local-only default."""

from __future__ import annotations

from pathlib import Path

from app.access import ADMIN_COOKIE
from tests.dashboard.conftest import ADMIN_TOKEN, client_for, running_app


async def test_dashboard_is_served_to_local_requests_without_an_admin_token(
    tmp_path: Path,
) -> None:
    async with running_app(tmp_path) as app, client_for(app) as client:
        page = await client.get("/dashboard")
        config = await client.get("/dashboard/config")
    assert page.status_code == 200
    assert "<title>StreamCore dashboard</title>" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert config.json() == {"demo": False, "admin_required": False, "feed_key_required": False}


async def test_dashboard_refuses_remote_requests_without_an_admin_token(tmp_path: Path) -> None:
    async with running_app(tmp_path) as app, client_for(app, remote=True) as client:
        page = await client.get("/dashboard")
        config = await client.get("/dashboard/config")
        status = await client.get("/system/status")
    assert page.status_code == 403
    assert "STREAMCORE_ADMIN_TOKEN" in page.text
    assert config.status_code == 403
    assert status.status_code == 403


async def test_dashboard_redirects_to_the_login_form_without_the_cookie(tmp_path: Path) -> None:
    async with running_app(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app:
        for remote in (False, True):
            async with client_for(app, remote=remote) as client:
                client.cookies.set(ADMIN_COOKIE, "not-the-admin-token-at-all")
                page = await client.get("/dashboard")
                form = await client.get("/dashboard/login")
            assert page.status_code == 303
            assert page.headers["location"] == "/dashboard/login"
            assert form.status_code == 200
            assert 'name="token"' in form.text
            assert 'action="/dashboard/login"' in form.text


async def test_login_with_the_admin_token_sets_a_strict_httponly_cookie_and_opens_the_dashboard(
    tmp_path: Path,
) -> None:
    async with (
        running_app(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app,
        client_for(app, remote=True) as client,
    ):
        login = await client.post("/dashboard/login", data={"token": ADMIN_TOKEN})
        page = await client.get("/dashboard")
        status = await client.get("/system/status")
        config = await client.get("/dashboard/config")
    assert login.status_code == 303
    assert login.headers["location"] == "/dashboard"
    cookie = login.headers["set-cookie"]
    assert cookie.startswith(f"{ADMIN_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Path=/" in cookie
    assert page.status_code == 200
    assert "<title>StreamCore dashboard</title>" in page.text
    # The API endpoints take the same cookie, so the page's fetch calls need nothing else.
    assert status.status_code == 200
    assert status.json()["running"] is False
    assert config.json()["admin_required"] is True


async def test_login_with_a_wrong_token_shows_the_form_again_with_an_error(
    tmp_path: Path,
) -> None:
    async with (
        running_app(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app,
        client_for(app, remote=True) as client,
    ):
        login = await client.post("/dashboard/login", data={"token": "<b>guess</b>-0123456789"})
        page = await client.get("/dashboard")
    assert login.status_code == 401
    assert "set-cookie" not in login.headers
    assert 'role="alert"' in login.text
    assert "That is not the admin token" in login.text
    assert "guess" not in login.text  # the attempt is never echoed back
    assert 'name="token"' in login.text
    assert page.status_code == 303


async def test_logout_clears_the_cookie_and_the_dashboard_asks_for_login_again(
    tmp_path: Path,
) -> None:
    async with (
        running_app(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app,
        client_for(app, remote=True) as client,
    ):
        await client.post("/dashboard/login", data={"token": ADMIN_TOKEN})
        assert (await client.get("/dashboard")).status_code == 200
        logout = await client.post("/dashboard/logout")
        page = await client.get("/dashboard")
        status = await client.get("/system/status")
    assert logout.status_code == 303
    assert logout.headers["location"] == "/dashboard/login"
    assert f'{ADMIN_COOKIE}=""' in logout.headers["set-cookie"]
    assert "Max-Age=0" in logout.headers["set-cookie"]
    assert page.status_code == 303
    assert status.status_code == 401


async def test_without_an_admin_token_the_login_form_leads_straight_to_the_dashboard(
    tmp_path: Path,
) -> None:
    async with running_app(tmp_path) as app, client_for(app) as client:
        form = await client.get("/dashboard/login")
        login = await client.post("/dashboard/login", data={"token": "anything-at-all-here"})
    assert (form.status_code, form.headers["location"]) == (303, "/dashboard")
    assert (login.status_code, login.headers["location"]) == (303, "/dashboard")
    assert "set-cookie" not in login.headers


async def test_config_reports_demo_mode_when_a_simulator_is_configured(tmp_path: Path) -> None:
    overrides = {"streamcore_demo_simulator_url": "http://127.0.0.1:9", "ws_require_auth": True}
    async with running_app(tmp_path, **overrides) as app, client_for(app) as client:
        config = await client.get("/dashboard/config")
    assert config.json() == {"demo": True, "admin_required": False, "feed_key_required": True}


async def test_the_page_assets_are_served_without_login(tmp_path: Path) -> None:
    async with (
        running_app(tmp_path, streamcore_admin_token=ADMIN_TOKEN) as app,
        client_for(app, remote=True) as client,
    ):
        styles = await client.get("/dashboard/assets/dashboard.css")
        scripts = [
            await client.get(f"/dashboard/assets/{name}.js")
            for name in ("common", "keys", "dashboard")
        ]
    assert styles.status_code == 200
    assert styles.headers["content-type"].startswith("text/css")
    for script in scripts:
        assert script.status_code == 200
        # Data reaches the page through textContent only, never parsed as HTML.
        for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write"):
            assert sink not in script.text
