"""The seed's contract end to end: Twitch (the simulator) -> gateway -> workers -> events,
driven only through StreamCore's HTTP API, on real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.factory import create_app
from core.settings import Settings
from tests.conftest import clean_redis_db, fresh_postgres_schema
from tests.polling import eventually

CALLBACK = "http://127.0.0.1/tokens/callback"
#: The whole chain (simulator, gateway, Redis, workers) comes up within this, generously.
WAIT_S = 15.0


@dataclass
class Deployment:
    app: FastAPI
    api: httpx.AsyncClient
    sim: Any
    #: The deployment's settings as environment variables, for another StreamCore process.
    env: dict[str, str]


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with deploy(tmp_path) as running:
        yield running


@asynccontextmanager
async def deploy(tmp_path: Path, **overrides: Any) -> AsyncIterator[Deployment]:
    """StreamCore on real Redis and PostgreSQL, talking to a simulator; `overrides` are
    settings (`redis_url` replaces the test database). `Deployment.env` is the same
    configuration as environment variables."""
    from simulator.testing import run_simulator

    async with (
        run_simulator(redirect_uri=CALLBACK) as sim,
        clean_redis_db() as redis_url,
        fresh_postgres_schema() as (dsn, schema),
    ):
        env = sim.env()
        redis_url = str(overrides.pop("redis_url", redis_url))
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            twitch_client_id=env["TWITCH_CLIENT_ID"],
            twitch_client_secret=SecretStr(env["TWITCH_CLIENT_SECRET"]),
            twitch_auth_url=env["TWITCH_AUTH_URL"],
            twitch_api_url=env["TWITCH_API_URL"],
            twitch_eventsub_ws_url=env["TWITCH_EVENTSUB_WS_URL"],
            twitch_redirect_uri=CALLBACK,
            redis_url=SecretStr(redis_url),
            database_url=SecretStr(f"{dsn}?search_path={schema}"),
            streamcore_data_dir=tmp_path,
            **overrides,
        )
        import asyncpg

        connection = await asyncpg.connect(dsn)
        await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await connection.close()
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as api:
                environ = {
                    **env,
                    "TWITCH_REDIRECT_URI": CALLBACK,
                    "REDIS_URL": redis_url,
                    "DATABASE_URL": f"{dsn}?search_path={schema}",
                    "STREAMCORE_DATA_DIR": str(tmp_path),
                }
                yield Deployment(app, api, sim, environ)


async def authorize(deployment: Deployment) -> None:
    """The browser's part of the OAuth dance, done with httpx."""
    link = (await deployment.api.get("/tokens/link")).json()
    await approve_link(deployment, link["auth_url"])


async def approve_link(deployment: Deployment, auth_url: str) -> dict[str, Any]:
    """Open `auth_url` as the browser would and follow Twitch's redirect to the callback;
    the callback's JSON answer."""
    async with httpx.AsyncClient() as browser:
        approval = await browser.get(auth_url, follow_redirects=False)
    callback = httpx.URL(approval.headers["location"])
    assert str(callback).startswith(CALLBACK)
    done = await deployment.api.get(
        f"/tokens/callback?{callback.query.decode()}", headers={"Accept": "application/json"}
    )
    assert done.status_code == 200, done.text
    answer: dict[str, Any] = done.json()
    return answer


async def gateway_connected(deployment: Deployment) -> None:
    """Wait until /system/status shows the gateway connected."""

    async def connected() -> bool:
        status = (await deployment.api.get("/system/status")).json()
        return bool(status["gateway"]["state"] == "connected")

    await eventually(connected, within_s=WAIT_S, what="the gateway connected")


async def test_health_reports_not_running_before_start(deployment: Deployment) -> None:
    response = await deployment.api.get("/")
    assert response.json() == {"status": "StreamCore Online", "running": False}


async def test_start_without_authorization_answers_401_with_the_link(
    deployment: Deployment,
) -> None:
    response = await deployment.api.post("/system/start")
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "auth_required"
    assert body["auth_url"].startswith(f"{deployment.sim.auth_url}/authorize?")
    assert "moderator:read:followers" in body["missing_scopes"]


async def test_start_is_idempotent_and_events_flow_to_the_bus(deployment: Deployment) -> None:
    await authorize(deployment)
    runtime = deployment.app.state.services
    async with runtime.bus.psubscribe("events:alert.*") as alerts:
        first = await deployment.api.post("/system/start")
        second = await deployment.api.post("/system/start")
        assert (first.status_code, first.json()) == (200, {"status": "started"})
        assert (second.status_code, second.json()) == (200, {"status": "already_running"})

        async def subscribed() -> bool:
            status = (await deployment.api.get("/system/status")).json()
            return status["gateway"]["state"] == "connected" and any(
                s["type"] == "channel.follow" and s["status"] == "enabled"
                for s in status["subscriptions"]
            )

        await eventually(subscribed, within_s=WAIT_S, what="channel.follow enabled")
        await deployment.sim.trigger("channel.follow", event={"user_name": "Ada"})
        message = await asyncio.wait_for(alerts.get(), 10)
    envelope = json.loads(message.data)
    assert envelope["event"] == "alert.follow"
    assert set(envelope) == {"event", "data", "id", "ts", "channel"}
    # The channel the follow was for: the authorized broadcaster.
    token = runtime.tokens
    assert envelope["channel"] == {"id": token.user_id, "login": token.login}
    channels = (await deployment.api.get("/channels")).json()
    assert [(c["id"], c["login"]) for c in channels] == [(token.user_id, token.login)]
    assert (await deployment.api.get("/")).json()["running"] is True


async def test_status_reports_every_part(deployment: Deployment) -> None:
    await authorize(deployment)
    await deployment.api.post("/system/start")

    await gateway_connected(deployment)
    await deployment.sim.trigger("channel.follow")

    async def handled() -> bool:
        status = (await deployment.api.get("/system/status")).json()
        return any(w["handled"] >= 1 for w in status["workers"])

    await eventually(handled, within_s=WAIT_S, what="a worker handled the follow")
    status = (await deployment.api.get("/system/status")).json()
    assert status["running"] is True
    assert status["backends"] == {"bus": "redis", "store": "postgresql"}
    assert status["auth"]["state"] == "ok"
    assert status["auth"]["login"] == deployment.sim.users["broadcaster"].login
    assert "moderator:read:followers" in status["auth"]["scopes"]
    gateway = status["gateway"]
    assert gateway["session_id"] and gateway["connected_since"]
    assert gateway["last_message_age_s"] is not None
    assert {"type", "version", "status"} <= set(status["subscriptions"][0])
    worker = next(w for w in status["workers"] if w["name"] == "alerts")
    assert {"name", "types", "handled", "failed", "dead_letters", "lag"} <= set(worker)
    assert "connected" in status["clients"]
    assert {"stalls", "stalled_seconds", "longest_s", "last"} <= set(status["event_loop"])
    assert status["version"]
    text = json.dumps(status)
    assert "access_token" not in text and "refresh_token" not in text


async def test_stop_is_graceful_and_closes_the_eventsub_socket(deployment: Deployment) -> None:
    await authorize(deployment)
    await deployment.api.post("/system/start")

    async def sessions() -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{deployment.sim.http_url}/control/sessions")
        sessions: list[dict[str, Any]] = response.json()["data"]
        return sessions

    async def connected() -> bool:
        return any(s["status"] == "connected" for s in await sessions())

    await eventually(connected, within_s=WAIT_S, what="an EventSub session connected")
    stopped = await deployment.api.post("/system/stop")
    assert stopped.json() == {"status": "stopped"}
    assert (await deployment.api.get("/")).json()["running"] is False

    async def closed() -> bool:
        return not any(s["status"] == "connected" for s in await sessions())

    await eventually(closed, within_s=WAIT_S, what="every EventSub session closed")
    again = await deployment.api.post("/system/start")
    assert again.json() == {"status": "started"}


async def test_metrics_count_events_workers_clients_and_latency(deployment: Deployment) -> None:
    await authorize(deployment)
    await deployment.api.post("/system/start")

    await gateway_connected(deployment)
    await deployment.sim.trigger("channel.follow", count=2)

    async def counted() -> bool:
        text = (await deployment.api.get("/metrics")).text
        return 'streamcore_worker_handled_total{worker="alerts"} 2.0' in text

    await eventually(counted, within_s=WAIT_S, what="2 follows counted by the alerts worker")
    response = await deployment.api.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'streamcore_eventsub_received_total{type="channel.follow"} 2.0' in text
    assert "streamcore_gateway_connected 1.0" in text
    assert "streamcore_clients_connected 0.0" in text
    assert "streamcore_clients_slow_disconnects_total 0.0" in text
    assert "streamcore_events_trimmed_unread_total 0.0" in text
    assert 'streamcore_event_latency_seconds_count{stage="twitch_to_handled"}' in text
    assert "streamcore_running 1.0" in text
