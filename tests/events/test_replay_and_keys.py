"""Replay (`?since=`) and client keys against a real StreamCore on Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from app.access import ADMIN_COOKIE
from core.constants import EVENTS_LOG_STREAM
from events.keys import ClientKeys
from tests.events.conftest import Connect, Server, receive_json, run_streamcore
from tests.polling import eventually


async def test_since_replays_events_after_the_id_then_goes_live_without_gap_or_duplicate(
    streamcore: Server, ws_connect: Connect
) -> None:
    publisher = streamcore.publisher
    ids = [await publisher.publish("alert.follow", {"n": n}) for n in range(5)]
    ws = await ws_connect(streamcore.ws_url(f"since={ids[1]}"))
    # Publish concurrently with the replay: the merge must neither lose nor repeat these.
    live = [await publisher.publish("alert.follow", {"n": n}) for n in range(5, 30)]
    received = [(await receive_json(ws))["id"] for _ in range(len(ids) - 2 + len(live))]
    assert received == ids[2:] + live
    await publisher.publish("alert.follow", {"n": "last"})
    assert (await receive_json(ws))["data"] == {"n": "last"}


async def test_since_older_than_retention_starts_with_replay_truncated(
    streamcore: Server, ws_connect: Connect
) -> None:
    bus = streamcore.services.bus
    first = await streamcore.publisher.publish("alert.follow", {"n": 0})
    kept = await streamcore.publisher.publish("alert.follow", {"n": 1})
    await bus.client.execute_command(  # type: ignore[attr-defined]
        "XDEL", EVENTS_LOG_STREAM, first
    )  # as trimming would
    ws = await ws_connect(streamcore.ws_url("since=1-0"))
    notice = await receive_json(ws)
    assert notice["event"] == "system.replay_truncated"
    assert notice["data"]["since"] == "1-0"
    assert (await receive_json(ws))["id"] == kept


async def test_invalid_since_closes_with_4000(streamcore: Server, ws_connect: Connect) -> None:
    ws = await ws_connect(streamcore.ws_url("since=yesterday"))
    await asyncio.wait_for(ws.wait_closed(), 10)
    assert ws.close_code == 4000


async def _closed_with(ws) -> tuple[int | None, str | None]:
    await asyncio.wait_for(ws.wait_closed(), 10)
    return ws.close_code, ws.close_reason


async def test_keys_required_refuse_missing_and_bad_keys_before_sending_anything(
    tmp_path: Path, redis_url: str, ws_connect: Connect
) -> None:
    async with run_streamcore(tmp_path, redis_url, ws_require_auth=True) as server:
        await server.publisher.publish("alert.follow", {})
        missing = await ws_connect(server.ws_url("since=0"))
        code, reason = await _closed_with(missing)
        assert code == 4001 and "key is required" in (reason or "")
        bad = await ws_connect(server.ws_url("since=0&key=sck_not-a-real-key"))
        code, reason = await _closed_with(bad)
        assert code == 4001 and "invalid" in (reason or "")


async def test_scoped_key_gets_only_its_events_and_revoked_key_is_refused(
    tmp_path: Path, redis_url: str, ws_connect: Connect
) -> None:
    async with run_streamcore(tmp_path, redis_url, ws_require_auth=True) as server:
        keys = ClientKeys(server.services.store)
        key, _ = await keys.create("obs", "follow,chat")
        ws = await ws_connect(server.ws_url(f"key={key}"))
        await eventually(lambda: server.connected() == 1, what="1 client connected")
        for name in ("alert.sub", "alert.follow", "stream.online", "chat.message"):
            await server.publisher.publish(name, {})
        assert (await receive_json(ws))["event"] == "alert.follow"
        assert (await receive_json(ws))["event"] == "chat.message"
        await keys.revoke("obs")
        refused = await ws_connect(server.ws_url(f"key={key}"))
        code, _ = await _closed_with(refused)
        assert code == 4001


async def test_keys_http_endpoints_create_list_and_revoke(streamcore: Server) -> None:
    async with httpx.AsyncClient(base_url=streamcore.http_url) as http:
        created = (await http.post("/keys", json={"name": "esp32", "events": "alert.*"})).json()
        assert created["key"].startswith("sck_")
        listed = (await http.get("/keys")).json()
        assert [(k["name"], k["events"]) for k in listed] == [("esp32", "alert.*")]
        assert all("key" not in k for k in listed)
        assert (await http.delete("/keys/esp32")).status_code == 200
        assert (await http.get("/keys")).json() == []
        assert (await http.delete("/keys/esp32")).status_code == 404


ADMIN = "admin-token-for-dashboard-tests"


async def test_logged_in_dashboard_gets_the_feed_without_a_key_from_its_own_origin_only(
    tmp_path: Path, redis_url: str, ws_connect: Connect
) -> None:
    async with run_streamcore(
        tmp_path, redis_url, ws_require_auth=True, streamcore_admin_token=ADMIN
    ) as server:
        own = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=server.http_url) as browser:
            login = await browser.post(
                "/dashboard/login", data={"token": ADMIN}, headers={"Origin": own}
            )
        assert login.status_code == 303
        session = login.cookies[ADMIN_COOKIE]
        assert session != ADMIN  # the cookie is a session id, never the admin token
        cookie = {"Cookie": f"{ADMIN_COOKIE}={session}"}
        dashboard = await ws_connect(server.ws_url(), origin=own, additional_headers=cookie)
        await eventually(lambda: server.connected() == 1, what="1 client connected")
        await server.publisher.publish("alert.follow", {"user": "ada"})
        assert (await receive_json(dashboard))["event"] == "alert.follow"
        foreign = await ws_connect(
            server.ws_url(), origin="http://evil.example", additional_headers=cookie
        )
        code, _ = await _closed_with(foreign)
        assert code == 4001
        wrong = await ws_connect(
            server.ws_url(), origin=own, additional_headers={"Cookie": f"{ADMIN_COOKIE}=nope"}
        )
        code, _ = await _closed_with(wrong)
        assert code == 4001


async def test_key_management_needs_the_admin_token_once_set(
    tmp_path: Path, redis_url: str
) -> None:
    async with (
        run_streamcore(tmp_path, redis_url, streamcore_admin_token=ADMIN) as server,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        refused = await http.post("/keys", json={"name": "obs"})
        allowed = await http.post(
            "/keys", json={"name": "obs"}, headers={"Authorization": f"Bearer {ADMIN}"}
        )
    assert refused.status_code == 401
    assert allowed.status_code == 201
