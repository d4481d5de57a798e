"""TWITCH_EVENTSUB_TRANSPORT=webhook end to end: StreamCore served on a port, the simulator
POSTing to it (http on loopback, its local-testing flag), real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from app.factory import create_app
from core.settings import Settings
from tests.conftest import clean_redis_db, free_port, fresh_postgres_schema
from tests.polling import eventually

WAIT_S = 15.0


@dataclass
class Stack:
    app: FastAPI
    api: httpx.AsyncClient
    sim: Any
    base: str
    settings: Settings


@asynccontextmanager
async def webhook_world(tmp_path: Path) -> AsyncIterator[tuple[Any, Settings]]:
    """The simulator (calling http on loopback), Redis, a PostgreSQL schema, and the settings
    of a webhook-transport StreamCore on a free port."""
    from simulator.testing import run_simulator

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with (
        run_simulator(redirect_uri=f"{base}/tokens/callback", allow_http_callbacks=True) as sim,
        clean_redis_db() as redis_url,
        fresh_postgres_schema() as (dsn, schema),
    ):
        connection = await asyncpg.connect(dsn)
        await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await connection.close()
        env = sim.env()
        yield (
            sim,
            Settings(  # type: ignore[call-arg]
                _env_file=None,
                twitch_client_id=env["TWITCH_CLIENT_ID"],
                twitch_client_secret=SecretStr(env["TWITCH_CLIENT_SECRET"]),
                twitch_auth_url=env["TWITCH_AUTH_URL"],
                twitch_api_url=env["TWITCH_API_URL"],
                twitch_eventsub_ws_url=env["TWITCH_EVENTSUB_WS_URL"],
                twitch_redirect_uri=f"{base}/tokens/callback",
                redis_url=SecretStr(redis_url),
                database_url=SecretStr(f"{dsn}?search_path={schema}"),
                streamcore_data_dir=tmp_path,
                streamcore_port=port,
                twitch_eventsub_transport="webhook",
                streamcore_public_url=base,
            ),
        )


@asynccontextmanager
async def stack_on(sim: Any, settings: Settings) -> AsyncIterator[Stack]:
    base = settings.streamcore_public_url
    async with serving(settings) as app, httpx.AsyncClient(base_url=base, timeout=10) as api:
        yield Stack(app, api, sim, base, settings)


@asynccontextmanager
async def webhook_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with webhook_world(tmp_path) as (sim, settings), stack_on(sim, settings) as stack:
        yield stack


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[FastAPI]:
    """StreamCore with these settings on their port, until the block ends."""
    app = create_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=settings.streamcore_port, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, within_s=WAIT_S, what="StreamCore serving")
        yield app
    finally:
        server.should_exit = True
        await task


async def authorize_and_start(stack: Stack) -> None:
    link = (await stack.api.get("/tokens/link")).json()
    async with httpx.AsyncClient() as browser:
        approval = await browser.get(link["auth_url"], follow_redirects=False)
    callback = httpx.URL(approval.headers["location"])
    done = await stack.api.get(f"/tokens/callback?{callback.query.decode()}")
    assert done.status_code in (200, 303), done.text
    started = await stack.api.post("/system/start")
    assert started.status_code == 200, started.text


async def follow_enabled(stack: Stack) -> dict[str, Any]:
    async def enabled() -> dict[str, Any] | None:
        status = (await stack.api.get("/system/status")).json()
        subs = [s for s in status["subscriptions"] if s["type"] == "channel.follow"]
        return status if subs and subs[0]["status"] == "enabled" else None

    status = await eventually(enabled, within_s=WAIT_S, what="channel.follow verified")
    assert status is not None
    return status


async def test_webhook_subscriptions_are_verified_and_events_arrive(tmp_path: Path) -> None:
    async with webhook_stack(tmp_path) as stack:
        await authorize_and_start(stack)
        status = await follow_enabled(stack)
        assert status["gateway"]["transport"] == "webhook"
        async with httpx.AsyncClient() as client:
            listed = (await client.get(f"{stack.sim.http_url}/control/subscriptions")).json()
        webhooks = [s for s in listed["data"] if s["transport"]["method"] == "webhook"]
        assert webhooks and all(s["status"] == "enabled" for s in webhooks)
        assert all(s["transport"]["callback"].startswith(stack.base) for s in webhooks)

        services = stack.app.state.services
        async with services.bus.psubscribe("events:alert.follow") as alerts:
            await stack.sim.trigger("channel.follow", event={"user_name": "Ada"})
            message = await asyncio.wait_for(alerts.get(), 10)
        assert json.loads(message.data)["data"]["user"]["name"] == "Ada"


async def test_deliveries_that_fail_are_retried_by_twitch_and_stored_once(tmp_path: Path) -> None:
    async with webhook_stack(tmp_path) as stack:
        await authorize_and_start(stack)
        await follow_enabled(stack)
        services = stack.app.state.services
        async with httpx.AsyncClient() as client:
            # The next two POSTs fail (as a crashed or overloaded StreamCore would answer),
            # and the one after is sent twice with the same message id.
            faults = {"fail_status": 503, "fail_count": 2, "duplicate": True}
            answered = await client.post(
                f"{stack.sim.http_url}/control/webhooks/faults", json=faults
            )
            assert answered.status_code == 200, answered.text
        async with services.bus.psubscribe("events:alert.follow") as alerts:
            await stack.sim.trigger("channel.follow", event={"user_name": "Grace"})
            message = await asyncio.wait_for(alerts.get(), 15)
            assert json.loads(message.data)["data"]["user"]["name"] == "Grace"
            try:
                extra = await asyncio.wait_for(alerts.get(), 2)
            except TimeoutError:
                extra = None
        assert extra is None, "a retried notification was handled twice"
        entries = await services.bus.read_range("eventsub:channel.follow")
        assert len(entries) == 1


async def webhook_callbacks(stack: Stack) -> dict[str, str]:
    """The simulator's webhook subscriptions: callback -> status."""
    async with httpx.AsyncClient() as client:
        listed = (await client.get(f"{stack.sim.http_url}/control/subscriptions")).json()
    return {
        s["transport"]["callback"]: s["status"]
        for s in listed["data"]
        if s["transport"]["method"] == "webhook" and s["type"] == "channel.follow"
    }


async def test_a_rotated_secret_makes_new_subscriptions_then_deletes_the_old(
    tmp_path: Path,
) -> None:
    async with webhook_world(tmp_path) as (sim, settings):
        first = settings.model_copy(update={"twitch_eventsub_secret": SecretStr("secret-one-0001")})
        async with stack_on(sim, first) as stack:
            await authorize_and_start(stack)
            await follow_enabled(stack)
            before = await webhook_callbacks(stack)
        assert list(before.values()) == ["enabled"]
        # The same deployment restarted with a new TWITCH_EVENTSUB_SECRET: the system is still
        # meant to run (stored), so it resumes by itself.
        second = settings.model_copy(
            update={"twitch_eventsub_secret": SecretStr("secret-two-0002")}
        )
        async with stack_on(sim, second) as stack:

            async def rotated() -> dict[str, str] | None:
                now = await webhook_callbacks(stack)
                return now if list(now.values()) == ["enabled"] and now != before else None

            after = await eventually(rotated, within_s=WAIT_S, what="the rotation done")
            assert after is not None
            services = stack.app.state.services
            async with services.bus.psubscribe("events:alert.follow") as alerts:
                await stack.sim.trigger("channel.follow", event={"user_name": "Rotated"})
                message = await asyncio.wait_for(alerts.get(), 10)
            assert json.loads(message.data)["data"]["user"]["name"] == "Rotated"
