"""The Redis bus survives a Redis restart: subscriptions and consumer groups deliver again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.factory import create_app
from bus.errors import BusUnavailable
from bus.redis import RedisBus
from core.settings import Settings
from tests.polling import eventually
from tests.redis_server import RedisServer

#: Redis restarts in a moment, but the bus reconnects with backoff: be generous.
BACK_S = 30.0


@pytest.fixture
async def restartable_bus(redis_server: RedisServer) -> AsyncIterator[RedisBus]:
    bus = RedisBus(redis_server.url)
    await bus.connect()
    try:
        yield bus
    finally:
        await bus.close()


async def test_subscription_and_group_deliver_again_after_restart(
    redis_server: RedisServer, restartable_bus: RedisBus
) -> None:
    bus = restartable_bus
    await bus.ensure_group("eventsub:channel.follow", "worker:test")
    before = [
        await bus.append("eventsub:channel.follow", {"n": str(i)}, maxlen=1000) for i in range(5)
    ]
    handled: list[str] = []

    async def consume() -> None:
        # The shape every consumer loop has: handle what is still pending for this consumer
        # (delivered, never acked), then new entries; back off while Redis is down.
        recovering = True
        while True:
            try:
                if recovering:
                    entries = await bus.read_pending("worker:test", "c1", "eventsub:channel.follow")
                    recovering = False
                else:
                    entries = await bus.read_group(
                        "worker:test", "c1", ["eventsub:channel.follow"], count=10, block_ms=200
                    )
                for entry in entries:
                    handled.append(entry.fields["n"])
                    await bus.ack(entry.stream, "worker:test", entry.id)
            except BusUnavailable:
                recovering = True
                await asyncio.sleep(0.1)

    async with bus.psubscribe("events:*") as subscription:
        consumer = asyncio.create_task(consume())
        try:
            await bus.publish("events:before", "1")
            assert (await asyncio.wait_for(subscription.get(), 5)).channel == "events:before"
            redis_server.kill()
            with pytest.raises(BusUnavailable):
                await bus.publish("events:during", "x")
            await redis_server.start()

            # Entries appended before the restart survived (append-only file).
            survived = await eventually(
                lambda: bus.read_range("eventsub:channel.follow"),
                within_s=BACK_S,
                ignoring=(BusUnavailable,),
                what="the stream readable again",
            )
            assert [e.id for e in survived][: len(before)] == before

            await eventually(
                lambda: bus.append("eventsub:channel.follow", {"n": "after"}, 1000),
                within_s=BACK_S,
                ignoring=(BusUnavailable,),
                what="an append accepted again",
            )

            async def published_and_received() -> str:
                await bus.publish("events:after", "2")
                return (await asyncio.wait_for(subscription.get(), 1)).channel

            # The listener re-subscribes with backoff: until it has, a publish reaches nobody.
            channel = await eventually(
                published_and_received,
                within_s=BACK_S,
                ignoring=(BusUnavailable, TimeoutError),
                what="the pattern subscription delivering again",
            )
            assert channel == "events:after"
            await eventually(lambda: "after" in handled, what="the consumer group delivering again")
            assert sorted(set(handled)) == sorted({"0", "1", "2", "3", "4", "after"})
        finally:
            consumer.cancel()


async def test_http_keeps_serving_while_redis_is_down(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    settings = Settings(redis_url=redis_server.url, streamcore_data_dir=tmp_path)  # type: ignore[arg-type]
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        redis_server.kill()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            response = await client.get("/")
        assert response.status_code == 200
        assert response.json() == {"status": "StreamCore Online", "running": False}
        with pytest.raises(BusUnavailable, match="Redis is unavailable"):
            await app.state.services.bus.publish("events:x", "y")
