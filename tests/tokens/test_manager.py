"""The TokenManager against the simulator: refresh, single-flight, validation, revocation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bus.base import Bus
from bus.redis import RedisBus
from core.tasks import TaskSupervisor
from db_infrastructure.base import Store
from db_infrastructure.sqlite import SQLiteStore
from tests.polling import eventually
from tests.tokens.conftest import (
    Clock,
    ManualSleep,
    RequestLog,
    api_client,
    control,
    make_manager,
    seed_token,
    settings_for,
    stored_token,
)
from tokens.errors import AuthRequired
from tokens.helix import HelixClient

SCOPES = ["bits:read", "user:write:chat"]
FOUR_HOURS = 4 * 3600


async def test_an_expired_token_is_refreshed_and_the_rotated_refresh_token_stored(
    sim: Any,
    store: Store,
    memory_bus: Bus,
    http: httpx.AsyncClient,
    request_log: RequestLog,
    tmp_path: Path,
) -> None:
    old = await seed_token(sim, store, SCOPES)
    clock = Clock()
    manager = make_manager(
        settings_for(sim, tmp_path), store, memory_bus, http, SCOPES, clock=clock
    )
    await manager.start()
    assert manager.state == "ok" and request_log.count("/oauth2/token") == 0

    clock.advance(FOUR_HOURS)  # the token's four hours are over
    new_access = await manager.access_token()

    assert request_log.count("/oauth2/token") == 1
    assert new_access != old.access_token
    saved = await stored_token(store)
    assert saved is not None
    assert saved.access_token == new_access
    assert saved.refresh_token != old.refresh_token  # the rotated one was stored
    assert saved.user_id == old.user_id and saved.login == old.login
    assert await manager.access_token() == new_access  # no second refresh
    assert request_log.count("/oauth2/token") == 1


async def test_a_token_twitch_expired_early_is_refreshed_at_start_up(
    sim: Any, store: Store, memory_bus: Bus, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    old = await seed_token(sim, store, SCOPES)
    await control(sim, "tokens/expire", {"access_token": old.access_token})
    manager = make_manager(settings_for(sim, tmp_path), store, memory_bus, http, SCOPES)
    await manager.start()
    assert manager.state == "ok"
    saved = await stored_token(store)
    assert saved is not None and saved.access_token != old.access_token
    helix = HelixClient(settings_for(sim, tmp_path), manager, http)
    assert (await helix.get_users())[0]["id"] == old.user_id


async def test_twenty_concurrent_calls_with_an_expired_token_make_one_token_request(
    sim: Any,
    store: Store,
    memory_bus: Bus,
    http: httpx.AsyncClient,
    request_log: RequestLog,
    tmp_path: Path,
) -> None:
    settings = settings_for(sim, tmp_path)
    await seed_token(sim, store, SCOPES)
    clock = Clock()
    manager = make_manager(settings, store, memory_bus, http, SCOPES, clock=clock)
    helix = HelixClient(settings, manager, http)
    await manager.start()
    clock.advance(FOUR_HOURS)

    results = await asyncio.gather(*(helix.get_users() for _ in range(20)))

    assert request_log.count("/oauth2/token") == 1
    assert all(users[0]["id"] == sim.users["broadcaster"].id for users in results)


async def test_twenty_concurrent_401s_share_one_refresh(
    sim: Any, memory_bus: Bus, http: httpx.AsyncClient, request_log: RequestLog, tmp_path: Path
) -> None:
    settings = settings_for(sim, tmp_path)
    store = SQLiteStore(tmp_path / "streamcore.db")
    await store.connect()
    try:
        old = await seed_token(sim, store, SCOPES)
        manager = make_manager(settings, store, memory_bus, http, SCOPES)
        helix = HelixClient(settings, manager, http)
        await manager.start()
        await control(sim, "tokens/expire", {"access_token": old.access_token})

        results = await asyncio.gather(*(helix.get_users() for _ in range(20)))

        assert request_log.count("/oauth2/token") == 1
        assert len(results) == 20
        assert request_log.count("/helix/users") == 40  # each call: one 401, one success
    finally:
        await store.close()


async def test_two_processes_sharing_redis_refresh_once(
    sim: Any, redis_url: str, request_log: RequestLog, tmp_path: Path
) -> None:
    settings = settings_for(sim, tmp_path)
    store = SQLiteStore(tmp_path / "shared.db")
    bus = RedisBus(redis_url)
    await store.connect()
    await bus.connect()
    hooks: dict[str, list[Callable[..., Any]]] = {"request": [request_log]}
    try:
        async with (
            httpx.AsyncClient(timeout=10, event_hooks=hooks) as http_a,
            httpx.AsyncClient(timeout=10, event_hooks=hooks) as http_b,
        ):
            old = await seed_token(sim, store, SCOPES)
            process_a = make_manager(settings, store, bus, http_a, SCOPES)
            process_b = make_manager(settings, store, bus, http_b, SCOPES)
            await process_a.start()
            await process_b.start()
            await control(sim, "tokens/expire", {"access_token": old.access_token})
            helix_a = HelixClient(settings, process_a, http_a)
            helix_b = HelixClient(settings, process_b, http_b)

            calls = [helix_a.get_users() for _ in range(10)] + [
                helix_b.get_users() for _ in range(10)
            ]
            await asyncio.gather(*calls)

            assert request_log.count("/oauth2/token") == 1
            assert await process_a.access_token() == await process_b.access_token()
            assert process_a.state == process_b.state == "ok"
    finally:
        await bus.close()
        await store.close()


async def test_hourly_validation_runs_on_a_controlled_clock_and_revocation_needs_auth(
    sim: Any,
    store: Store,
    memory_bus: Bus,
    http: httpx.AsyncClient,
    request_log: RequestLog,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = await seed_token(sim, store, SCOPES)
    sleep = ManualSleep()
    manager = make_manager(
        settings_for(sim, tmp_path), store, memory_bus, http, SCOPES, sleep=sleep
    )
    await manager.start()
    assert request_log.count("/oauth2/validate") == 1  # at start-up
    async with TaskSupervisor() as tasks:
        tasks.spawn("tokens.validation", manager.run_validation_loop())
        await eventually(lambda: len(sleep.requested) == 1, what="the loop to wait an hour")
        assert sleep.requested == [3600]

        sleep.tick()  # an hour passes
        await eventually(lambda: request_log.count("/oauth2/validate") == 2, what="validation")
        assert manager.state == "ok"

        await control(sim, "tokens/revoke", {"user": "broadcaster"})  # the user disconnects
        with caplog.at_level(logging.WARNING, logger="streamcore.tokens"):
            await eventually(lambda: len(sleep.requested) == 2, what="the next wait")
            sleep.tick()
            await eventually(lambda: manager.state == "auth_required", what="auth_required")

        status = manager.status()
        assert status["auth_url"].startswith(f"{sim.auth_url}/authorize?")
        assert "Twitch rejected the token refresh" in status["reason"]
        lines = [r.getMessage() for r in caplog.records if status["auth_url"] in r.getMessage()]
        assert len(lines) == 1
        assert token.access_token not in str(status)

        # From now on, nothing calls Twitch: callers get AuthRequired with the link.
        before = len(request_log)
        for _ in range(3):
            with pytest.raises(AuthRequired) as caught:
                await manager.access_token()
            assert caught.value.auth_url is not None
        with pytest.raises(AuthRequired):
            await HelixClient(settings_for(sim, tmp_path), manager, http).get_users()
        await eventually(lambda: len(sleep.requested) == 3, what="the next wait")
        sleep.tick()
        await eventually(lambda: len(sleep.requested) == 4, what="another round")
        assert len(request_log) == before


async def test_mark_auth_required_stops_using_the_token_until_a_new_one_is_stored(
    sim: Any, store: Store, memory_bus: Bus, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    await seed_token(sim, store, SCOPES)
    manager = make_manager(settings_for(sim, tmp_path), store, memory_bus, http, SCOPES)
    await manager.start()
    await manager.mark_auth_required("the gateway saw authorization_revoked")
    with pytest.raises(AuthRequired):
        await manager.access_token()
    # Another process (e.g. `streamcore auth`) stores a new token: it is picked up.
    fresh = await seed_token(sim, store, SCOPES)
    assert await manager.access_token() == fresh.access_token
    assert manager.state == "ok"


async def test_delete_tokens_revokes_at_twitch_and_forgets_the_token(
    sim: Any, store: Store, memory_bus: Bus, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    settings = settings_for(sim, tmp_path)
    token = await seed_token(sim, store, SCOPES)
    manager = make_manager(settings, store, memory_bus, http, SCOPES)
    await manager.start()
    async with api_client(manager, settings, store, memory_bus, http) as api:
        answer = await api.delete("/tokens")
        status = (await api.get("/tokens")).json()
    assert answer.status_code == 200
    assert answer.json() == {"status": "revoked", "revoked_at_twitch": True}
    assert await stored_token(store) is None
    assert status["state"] == "auth_required" and status["auth_url"]
    validate = await http.get(
        f"{sim.auth_url}/validate", headers={"Authorization": f"OAuth {token.access_token}"}
    )
    assert validate.status_code == 401
