"""Ingest benchmark: EventSub notifications/s through the gateway into `eventsub:*`, on Redis.

    uv run python bench/ingest.py [--count 20000] [--redis-url redis://...]
    uv run python bench/ingest.py --transport webhook    # bench/webhook_ingest.py's docstring

Runs, one after the other against the same private redis-server (or --redis-url):
- baseline: a bare `websockets` client that only XADDs each frame (no parsing, no dedupe);
- streamcore: the real gateway, built by `app.services.open_services` as `streamcore run`
  builds it (protocol, staleness, dedupe + durable append via `Bus.append_unique`), its Twitch
  HTTP calls answered by an in-process mock transport.
Notifications come from bench/ingest_sender.py in a separate process (pre-generated, see its
docstring for why not the simulator), so only the client's CPU is measured
(resource.getrusage of this process, over the burst). Targets: >= 5,000 notifications/s, and
the gateway's CPU per message at most 1.5x the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from app.services import open_backends, open_services  # noqa: E402
from bench import webhook_ingest  # noqa: E402
from core.settings import Settings  # noqa: E402
from tokens.model import TokenSet  # noqa: E402
from tokens.vault import TokenVault  # noqa: E402

STREAM = "eventsub:channel.follow"
USER_ID = "71092938"
TARGET_RATE = 5_000
TARGET_CPU_RATIO = 1.5
#: Every scope the shipped workers ask for, so the gateway subscribes to all their types (the
#: sender only sends channel.follow).
MOCK_SCOPES = [
    "bits:read", "channel:read:hype_train", "channel:read:redemptions",
    "channel:read:subscriptions", "moderator:read:followers", "user:read:chat",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def start_sender(port: int, count: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "ingest_sender.py"), "--port", str(port),
         "--count", str(count)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError("the fake EventSub sender did not start")
    return process


async def measure(
    client: aioredis.Redis, count: int, run: Callable[[], Coroutine[Any, Any, Any]]
) -> dict[str, float]:
    """Start `run`, and time the burst: first entry appended -> `count` entries."""
    task = asyncio.create_task(run())
    try:
        while await client.xlen(STREAM) == 0:  # noqa: ASYNC110 - polling another process
            await asyncio.sleep(0.001)
        started, cpu_started = time.perf_counter(), cpu_s()
        while (length := await client.xlen(STREAM)) < count:
            if task.done():
                task.result()
                raise RuntimeError(f"client stopped after {length} entries")
            await asyncio.sleep(0.02)
        elapsed, cpu = time.perf_counter() - started, cpu_s() - cpu_started
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return {"rate": count / elapsed, "cpu_us_per_msg": cpu / count * 1e6, "seconds": elapsed}


async def baseline(url: str, redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    async with connect(url, max_size=1 << 20, compression=None, ping_interval=None) as ws:
        await ws.recv()  # welcome
        async for frame in ws:
            await client.execute_command(
                "XADD", STREAM, "MAXLEN", "~", 100_000, "*", "frame", frame
            )


def mock_twitch(request: httpx.Request) -> httpx.Response:
    """Helix/OAuth answers for the gateway's few calls (validate, list, create)."""
    path = request.url.path
    totals = {"total_cost": 0, "max_total_cost": 10}
    if path.endswith("/validate"):
        validation = {"client_id": "bench", "login": "bench", "user_id": USER_ID,
                      "scopes": MOCK_SCOPES, "expires_in": 14400}  # fmt: skip
        return httpx.Response(200, json=validation)
    if request.method == "GET":
        return httpx.Response(200, json={"data": [], "total": 0, **totals})
    body = json.loads(request.content)
    sub = {**body, "id": "bench-sub", "status": "enabled", "cost": 0, "created_at": "now"}
    return httpx.Response(202, json={"data": [sub], "total": 1, **totals})


async def streamcore(
    url: str, redis_url: str, data_dir: Path
) -> Callable[[], Coroutine[Any, Any, None]]:
    """The gateway as `streamcore run` builds it (`open_services`), Twitch's HTTP mocked."""
    key = Fernet.generate_key().decode()
    settings = Settings(
        _env_file=None, twitch_client_id="bench",  # type: ignore[call-arg]
        twitch_client_secret=SecretStr("benchsecret"),
        twitch_api_url="http://twitch.mock/helix", twitch_auth_url="http://twitch.mock/oauth2",
        twitch_eventsub_ws_url=url, token_encryption_key=SecretStr(key),
        streamcore_data_dir=data_dir, redis_url=SecretStr(redis_url),
        streamcore_stream_maxlen=100_000,
    )  # fmt: skip
    token = TokenSet(access_token="bench-token", refresh_token="bench-refresh",
                     expires_at=time.time() + 14400, scopes=MOCK_SCOPES,
                     user_id=USER_ID, login="bench")  # fmt: skip
    async with open_backends(settings) as (_, store):
        await TokenVault(store, Fernet(key.encode())).save(token)

    async def run() -> None:
        transport = httpx.MockTransport(mock_twitch)
        async with open_services(settings, fanout=False, http_transport=transport) as services:
            await services.system.build_gateway().run()

    return run


async def one(name: str, count: int, redis_url: str, data_dir: Path) -> dict[str, float]:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    port = free_port()
    sender = start_sender(port, count)
    url = f"ws://127.0.0.1:{port}/ws"
    try:
        if name == "baseline":
            result = await measure(client, count, lambda: baseline(url, redis_url))
        else:
            result = await measure(client, count, await streamcore(url, redis_url, data_dir))
    finally:
        sender.kill()
        sender.wait()
        await client.flushdb()
        await client.aclose()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=("websocket", "webhook"), default="websocket")
    parser.add_argument("--count", type=int, default=20_000, help="websocket: notifications")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; best kept")
    parser.add_argument("--redis-url", default=None)
    webhook_ingest.add_arguments(parser.add_argument_group("webhook transport"))
    args = parser.parse_args()
    if args.transport == "webhook":
        raise SystemExit(webhook_ingest.run(args))
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        redis_url = args.redis_url
        if redis_url is None:
            if shutil.which("redis-server") is None:
                raise SystemExit("redis-server is not installed; pass --redis-url")
            port = free_port()
            server = subprocess.Popen(  # noqa: ASYNC220 - start-up, before measuring
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", tmp],
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            redis_url = f"redis://127.0.0.1:{port}/0"
            await asyncio.sleep(0.3)
        try:
            results: dict[str, list[dict[str, float]]] = {"baseline": [], "streamcore": []}
            for _ in range(args.rounds):
                for name in results:
                    results[name].append(await one(name, args.count, redis_url, Path(tmp)))
        finally:
            if server is not None:
                server.kill()
                server.wait()
    best = {name: max(runs, key=lambda r: r["rate"]) for name, runs in results.items()}
    cpu = {name: min(r["cpu_us_per_msg"] for r in runs) for name, runs in results.items()}
    print(f"{'client':<12}{'msgs/s':>10}{'CPU us/msg':>12}")
    for name in results:
        print(f"{name:<12}{best[name]['rate']:>10.0f}{cpu[name]:>12.1f}")
    ratio = cpu["streamcore"] / cpu["baseline"]
    rate_ok = best["streamcore"]["rate"] >= TARGET_RATE
    print(f"gateway rate {best['streamcore']['rate']:.0f}/s (target >= {TARGET_RATE}): "
          f"{'OK' if rate_ok else 'MISSED'}")  # fmt: skip
    print(f"gateway CPU/msg = {ratio:.2f}x baseline (target <= {TARGET_CPU_RATIO}): "
          f"{'OK' if ratio <= TARGET_CPU_RATIO else 'MISSED'}")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
