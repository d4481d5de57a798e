"""The authorization code flow through StreamCore's own endpoints, against the simulator:
/tokens/link -> simulator /oauth2/authorize (redirect followed by hand) -> /tokens/callback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bus.base import Bus
from core.logging import redact
from db_infrastructure.base import Store
from tests.polling import eventually
from tests.tokens.conftest import (
    RequestLog,
    api_client,
    control,
    make_manager,
    settings_for,
    stored_token,
)
from tokens.constants import STATE_NAMESPACE

SCOPES = ["bits:read", "channel:read:subscriptions"]
HTML = {"Accept": "text/html,application/xhtml+xml"}
JSON = {"Accept": "application/json"}


async def authorize_at_twitch(http: httpx.AsyncClient, auth_url: str) -> str:
    """Open the link as the browser would; return the callback query Twitch redirects to."""
    response = await http.get(auth_url, follow_redirects=False)
    assert response.status_code in (302, 303, 307), response.text
    return urlsplit(response.headers["location"]).query


async def test_authorization_code_flow_connects_and_stores_the_token(
    sim: Any, store: Store, memory_bus: Bus, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    settings = settings_for(sim, tmp_path)
    manager = make_manager(settings, store, memory_bus, http, SCOPES)
    await manager.start()
    assert manager.state == "auth_required"
    async with api_client(manager, settings, store, memory_bus, http) as api:
        link = (await api.get("/tokens/link")).json()
        assert link["scopes"] == SCOPES
        query = parse_qs(urlsplit(link["auth_url"]).query)
        assert link["auth_url"].startswith(f"{sim.auth_url}/authorize?")
        assert query["client_id"] == [sim.client_id]
        assert query["redirect_uri"] == [sim.redirect_uri]
        assert query["response_type"] == ["code"]
        assert query["scope"] == [" ".join(SCOPES)]
        assert len(query["state"][0]) >= 32

        callback_query = await authorize_at_twitch(http, link["auth_url"])
        page = await api.get(f"/tokens/callback?{callback_query}", headers=HTML)
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        broadcaster = sim.users["broadcaster"]
        assert f"Connected as {broadcaster.login}. You can close this tab." in page.text

        assert manager.state == "ok"
        assert manager.user_id == broadcaster.id
        assert manager.login == broadcaster.login
        assert manager.missing_scopes() == []
        saved = await stored_token(store)
        assert saved is not None and saved.user_id == broadcaster.id
        assert saved.access_token == await manager.access_token()

        status = (await api.get("/tokens")).json()
        assert status["state"] == "ok" and status["login"] == broadcaster.login
        assert saved.access_token not in str(status) and saved.refresh_token not in str(status)

        # The state is single-use: the same callback a second time is refused.
        again = await api.get(f"/tokens/callback?{callback_query}", headers=JSON)
        assert again.status_code == 400
        assert again.json()["error"] == "invalid_state"


async def test_no_token_or_code_ever_reaches_the_logs(
    sim: Any,
    store: Store,
    memory_bus: Bus,
    http: httpx.AsyncClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = settings_for(sim, tmp_path)
    manager = make_manager(settings, store, memory_bus, http, SCOPES)
    with caplog.at_level(logging.DEBUG):
        await manager.start()
        async with api_client(manager, settings, store, memory_bus, http) as api:
            link = (await api.get("/tokens/link")).json()
            callback_query = await authorize_at_twitch(http, link["auth_url"])
            assert (await api.get(f"/tokens/callback?{callback_query}")).status_code == 200
            first = await stored_token(store)
            assert first is not None
            await manager.refresh()
            await manager.mark_auth_required("test")
            await api.delete("/tokens")
    second = await stored_token(store)
    code = parse_qs(callback_query)["code"][0]
    secrets = [first.access_token, first.refresh_token, code]
    assert caplog.records
    for record in caplog.records:
        text = record.getMessage()
        # StreamCore's own lines never contain them; every line (httpx's, uvicorn's) is clean
        # once the redacting filter that configure_logging installs has seen it.
        if record.name.startswith("streamcore"):
            assert all(secret not in text for secret in secrets if secret), text
        assert all(secret not in redact(text) for secret in secrets if secret), text
    assert second is None


async def test_authorize_redirects_the_browser_to_a_fresh_link(
    sim: Any, store: Store, memory_bus: Bus, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    settings = settings_for(sim, tmp_path)
    manager = make_manager(settings, store, memory_bus, http, SCOPES)
    async with api_client(manager, settings, store, memory_bus, http) as api:
        answer = await api.get("/tokens/authorize")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"{sim.auth_url}/authorize?")


async def test_callback_answers_json_when_asked(
    sim: Any, store: Store, memory_bus: Bus, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    settings = settings_for(sim, tmp_path)
    manager = make_manager(settings, store, memory_bus, http, SCOPES)
    async with api_client(manager, settings, store, memory_bus, http) as api:
        link = (await api.get("/tokens/link")).json()
        callback_query = await authorize_at_twitch(http, link["auth_url"])
        answer = await api.get(f"/tokens/callback?{callback_query}", headers=JSON)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "connected"
    assert body["login"] == sim.users["broadcaster"].login
    assert body["user_id"] == sim.users["broadcaster"].id
    assert body["scopes"] == SCOPES


@pytest.mark.parametrize("state", [None, "", "not-a-state-we-issued"])
async def test_missing_or_unknown_state_is_refused_and_nothing_is_stored(
    sim: Any,
    store: Store,
    memory_bus: Bus,
    http: httpx.AsyncClient,
    request_log: RequestLog,
    tmp_path: Path,
    state: str | None,
) -> None:
    settings = settings_for(sim, tmp_path)
    manager = make_manager(settings, store, memory_bus, http, SCOPES)
    async with api_client(manager, settings, store, memory_bus, http) as api:
        link = (await api.get("/tokens/link")).json()
        callback_query = parse_qs(await authorize_at_twitch(http, link["auth_url"]))
        params = {"code": callback_query["code"][0]}
        if state is not None:
            params["state"] = state
        answer = await api.get("/tokens/callback", params=params, headers=JSON)
        page = await api.get("/tokens/callback", params=params, headers=HTML)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_state"
    assert "/tokens/link" in answer.json()["message"]
    assert page.status_code == 400 and "text/html" in page.headers["content-type"]
    assert await stored_token(store) is None
    assert request_log.count("/oauth2/token") == 0  # the code was never exchanged
    assert manager.state == "auth_required"


async def test_an_expired_state_is_refused(
    sim: Any, store: Store, memory_bus: Bus, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    settings = settings_for(sim, tmp_path)
    manager = make_manager(settings, store, memory_bus, http, SCOPES)
    async with api_client(manager, settings, store, memory_bus, http) as api:
        link = (await api.get("/tokens/link")).json()
        callback_query = await authorize_at_twitch(http, link["auth_url"])
        state = parse_qs(callback_query)["state"][0]
        # Ten minutes pass: give the stored state a moment to live instead of 600 s.
        record = await store.get(STATE_NAMESPACE, state)
        assert record is not None
        await store.put(STATE_NAMESPACE, state, record, ttl_s=0.05)
        await eventually(lambda: _gone(store, state), what="the state to expire")
        answer = await api.get(f"/tokens/callback?{callback_query}", headers=JSON)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_state"
    assert await stored_token(store) is None


async def _gone(store: Store, state: str) -> bool:
    return await store.get(STATE_NAMESPACE, state) is None


async def test_access_denied_shows_a_clear_page_and_stores_nothing(
    sim: Any, store: Store, memory_bus: Bus, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    settings = settings_for(sim, tmp_path)
    manager = make_manager(settings, store, memory_bus, http, SCOPES)
    await control(sim, "oauth", {"authorize_as": "broadcaster", "deny": True})
    async with api_client(manager, settings, store, memory_bus, http) as api:
        link = (await api.get("/tokens/link")).json()
        callback_query = await authorize_at_twitch(http, link["auth_url"])
        assert "error=access_denied" in callback_query
        page = await api.get(f"/tokens/callback?{callback_query}", headers=HTML)
        spent = await api.get(f"/tokens/callback?{callback_query}", headers=JSON)
    assert page.status_code == 400
    assert "declined" in page.text and "not connected" in page.text
    assert spent.status_code == 400
    assert await stored_token(store) is None


async def test_link_without_client_id_says_how_to_fix_it(
    sim: Any, store: Store, memory_bus: Bus, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    settings = settings_for(sim, tmp_path, twitch_client_id="")
    manager = make_manager(settings, store, memory_bus, http, SCOPES)
    await manager.start()
    async with api_client(manager, settings, store, memory_bus, http) as api:
        answer = await api.get("/tokens/link")
        device = await api.post("/tokens/device")
    assert answer.status_code == 503
    assert answer.json()["error"] == "twitch_not_configured"
    assert "set TWITCH_CLIENT_ID" in answer.json()["message"]
    assert device.status_code == 503
    assert manager.status()["state"] == "auth_required"
