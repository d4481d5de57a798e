"""Baseline: a `websockets` server using `websockets.broadcast()` (drops frames for slow clients).

Run: `python bench/baselines/websockets_broadcast.py PORT REDIS_URL`.
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection, broadcast, serve

connections: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    connections.add(ws)
    try:
        await ws.wait_closed()
    finally:
        connections.discard(ws)


async def relay(url: str) -> None:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.psubscribe("events:*")
    async for message in pubsub.listen():
        if message["type"] == "pmessage":
            broadcast(connections, message["data"])


async def main(port: int, url: str) -> None:
    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=16):
        await relay(url)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
