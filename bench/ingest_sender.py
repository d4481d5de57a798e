"""A tiny fake EventSub sender for bench/ingest.py (run as its own process).

The simulator generates each event on demand and queues at most 10,000 per session, so its
trigger API, not the client, would limit a throughput benchmark. This sender pre-generates
real-shaped notifications (with the simulator's own generators, same wire format) and replays
them as fast as the socket takes them, after a welcome and a short pause for subscribing.

    python bench/ingest_sender.py --port 8765 --count 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from websockets.asyncio.server import ServerConnection, serve  # noqa: E402

from simulator import wire  # noqa: E402
from simulator.events import generate_event  # noqa: E402

BROADCASTER = "71092938"
#: Time the client gets between its welcome and the burst (to create its subscription).
SUBSCRIBE_PAUSE_S = 1.0


def frames(count: int) -> list[str]:
    subscription = {
        "id": str(uuid.uuid4()), "status": "enabled", "type": "channel.follow", "version": "2",
        "cost": 0, "condition": {"broadcaster_user_id": BROADCASTER,
                                 "moderator_user_id": BROADCASTER},
        "transport": {"method": "websocket", "session_id": "BENCH"},
        "created_at": wire.rfc3339_nano(),
    }  # fmt: skip
    event = generate_event("channel.follow", "2", subscription["condition"])
    return [json.dumps(wire.notification(subscription, event)) for _ in range(count)]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, default=20_000)
    args = parser.parse_args()
    burst = frames(args.count)
    done = asyncio.Event()

    async def handler(connection: ServerConnection) -> None:
        welcome = wire.welcome("BENCH", wire.rfc3339_nano(), 10)
        await connection.send(json.dumps(welcome))
        await asyncio.sleep(SUBSCRIBE_PAUSE_S)
        for text in burst:
            await connection.send(text)
        await connection.wait_closed()
        done.set()

    async with serve(handler, "127.0.0.1", args.port, compression=None, max_queue=None):
        print("ready", flush=True)
        await done.wait()


if __name__ == "__main__":
    asyncio.run(main())
