"""A Redis restart while events flow: nothing lost, nothing doubled, order kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bus.redis import RedisBus
from tests.gateway.harness import running_gateway, stream_message_ids
from tests.polling import eventually
from tests.redis_server import RedisServer


@pytest.fixture
async def private_bus(redis_server: RedisServer) -> AsyncIterator[RedisBus]:
    bus = RedisBus(redis_server.url)
    await bus.connect()
    yield bus
    await bus.close()


async def test_redis_restart_while_events_flow_loses_and_doubles_nothing(
    sim: Any, redis_server: RedisServer, private_bus: RedisBus, tmp_path: Path
) -> None:
    async with running_gateway(sim, private_bus, tmp_path) as run:
        await run.wait_subscribed(2)
        before = await run.trigger("channel.follow", count=5)
        await run.wait_stream("channel.follow", 5)
        redis_server.kill()
        during = await run.trigger("channel.follow", count=5)
        await eventually(lambda: run.gateway.handoff.bus_retries > 0, what="append retried")
        await redis_server.start()
        after = await run.trigger("channel.follow", count=5)

        async def all_there() -> bool:
            try:
                return len(await stream_message_ids(private_bus, "channel.follow")) >= 15
            except Exception:
                return False

        await eventually(all_there, within_s=20, what="every event appended")
        assert await stream_message_ids(private_bus, "channel.follow") == before + during + after
