"""TWITCH_CONDUIT_SHARD_TRANSPORT=webhook end to end: a conduit whose shards are webhooks on
StreamCore's public callback, the simulator POSTing to it (http on loopback), real Redis and
PostgreSQL. The kill-under-load proof with several replicas behind nginx is the chaos
benchmark's `conduit-webhook` run (tests/bench/test_chaos_short.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.settings import Settings
from tests.gateway.test_webhook_transport import (
    Stack,
    authorize_and_start,
    follow_enabled,
    stack_on,
    webhook_world,
)
from tests.polling import eventually

WAIT_S = 20.0


@asynccontextmanager
async def conduit_webhook_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with webhook_world(tmp_path) as (sim, settings):
        conduit: Settings = settings.model_copy(
            update={
                "twitch_eventsub_transport": "conduit",
                "twitch_conduit_shard_transport": "webhook",
                "streamcore_shards": 2,
            }
        )
        async with stack_on(sim, conduit) as stack:
            yield stack


async def sim_conduits(stack: Stack) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{stack.sim.http_url}/control/conduits")
    conduits: list[dict[str, Any]] = answer.json()["data"]
    return conduits


async def shards_enabled_on_callback(stack: Stack) -> list[dict[str, Any]]:
    async def enabled() -> list[dict[str, Any]] | None:
        conduits = await sim_conduits(stack)
        if len(conduits) != 1:
            return None
        shards: list[dict[str, Any]] = conduits[0]["shards"]
        ok = all(
            s["status"] == "enabled"
            and s["transport"]["method"] == "webhook"
            and s["transport"]["callback"].startswith(stack.base + "/eventsub/callback?v=")
            for s in shards
        )
        return shards if ok and len(shards) == 2 else None

    shards = await eventually(enabled, within_s=WAIT_S, what="both webhook shards enabled")
    assert shards is not None
    return shards


async def test_webhook_shards_are_verified_and_events_arrive(tmp_path: Path) -> None:
    async with conduit_webhook_stack(tmp_path) as stack:
        await authorize_and_start(stack)
        await shards_enabled_on_callback(stack)
        status = await follow_enabled(stack)
        gateway = status["gateway"]
        assert gateway["transport"] == "conduit"
        assert gateway["shard_transport"] == "webhook"
        assert gateway["state"] == "connected"
        assert set(gateway["shards"]) == {"0", "1"}
        async with httpx.AsyncClient() as client:
            listed = (await client.get(f"{stack.sim.http_url}/control/subscriptions")).json()
        follows = [s for s in listed["data"] if s["type"] == "channel.follow"]
        assert [s["transport"]["method"] for s in follows] == ["conduit"]

        services = stack.app.state.services
        async with services.bus.psubscribe("events:alert.follow") as alerts:
            await stack.sim.trigger("channel.follow", event={"user_name": "Ada"})
            message = await asyncio.wait_for(alerts.get(), 10)
        assert json.loads(message.data)["data"]["user"]["name"] == "Ada"


@pytest.mark.parametrize("failure_limit", [1])
async def test_a_failed_post_goes_to_the_other_shard_and_the_disabled_shard_comes_back(
    tmp_path: Path, failure_limit: int
) -> None:
    async with conduit_webhook_stack(tmp_path) as stack:
        # One failed POST in a row disables a shard (Twitch's limit is undocumented).
        stack.sim.state.config.webhook_failure_limit = failure_limit
        await authorize_and_start(stack)
        await shards_enabled_on_callback(stack)
        await follow_enabled(stack)
        services = stack.app.state.services
        keeper = services.system.eventsub.keeper
        assigned_before = keeper.webhook_shards.assigned
        async with httpx.AsyncClient() as client:
            # The next POST fails, as a replica SIGKILLed mid-request answers (the proxy's 502).
            faults = {"fail_status": 502, "fail_count": 1}
            answered = await client.post(
                f"{stack.sim.http_url}/control/webhooks/faults", json=faults
            )
            assert answered.status_code == 200, answered.text
        async with services.bus.psubscribe("events:alert.follow") as alerts:
            await stack.sim.trigger("channel.follow", event={"user_name": "Grace"})
            message = await asyncio.wait_for(alerts.get(), 10)
            assert json.loads(message.data)["data"]["user"]["name"] == "Grace"
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(alerts.get(), 1.5)
        assert len(await services.bus.read_range("eventsub:channel.follow")) == 1
        conduits = await sim_conduits(stack)
        assert conduits[0]["dropped"] == 0
        # The shard Twitch disabled is assigned to the callback again, and verified.
        await shards_enabled_on_callback(stack)
        assert keeper.webhook_shards.assigned > assigned_before
