"""Baseline: the naive FastAPI broadcaster (one task awaits each client's send in turn).

Run: `python -m uvicorn bench.baselines.naive_fastapi:app --port 8101` with BENCH_REDIS_URL set.
This is the design StreamCore's fan-out replaces; it is kept only to be measured against.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from fastapi import FastAPI, WebSocket

clients: set[WebSocket] = set()


async def relay(url: str) -> None:
    client = aioredis.Redis.from_url(url, decode_responses=True)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.psubscribe("events:*")
    async for message in pubsub.listen():
        if message["type"] != "pmessage":
            continue
        for ws in list(clients):
            try:
                await ws.send_text(message["data"])
            except Exception:
                clients.discard(ws)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    task = asyncio.create_task(relay(os.environ["BENCH_REDIS_URL"]))
    yield
    task.cancel()


app = FastAPI(lifespan=lifespan)


@app.websocket("/ws/events")
async def events(ws: WebSocket) -> None:
    await ws.accept()
    clients.add(ws)
    try:
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass
    finally:
        clients.discard(ws)
