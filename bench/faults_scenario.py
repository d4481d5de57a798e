"""One run of the fault benchmark (bench/faults.py), and its per-client figures.

`scenario` starts a fresh Redis, simulator and StreamCore (bench/faults_stack.py) and stops
them in reverse order; `exercise` connects the clients, fires channel.follow (`fire`) while
SIGKILLing and restarting Redis (`restart_redis`), waits for the drain and collects the result;
`measure` turns one client's frames into sent, received, lost, doubled, out of order and latency;
`diagnose` looks the lost markers up in Redis; `catch_up` times each outage's catch-up.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.faults_stack import (
    EVENT,
    Client,
    Redis,
    StreamCore,
    free_port,
    signals_cancel,
    wait_for,
)
from simulator.testing import RunningSimulator, run_simulator


def inversions(sequence: list[int]) -> int:
    """Pairs (i < j) with sequence[i] > sequence[j] (Fenwick tree, n log n)."""
    size = max(sequence, default=0) + 2
    tree = [0] * size
    count = 0
    for seen, value in enumerate(sequence):
        index, not_greater = value + 1, 0
        while index > 0:
            not_greater += tree[index]
            index -= index & -index
        count += seen - not_greater
        index = value + 1
        while index < size:
            tree[index] += 1
            index += index & -index
    return count


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


# -- one scenario ----------------------------------------------------------------------------


@dataclass
class Fired:
    marker: str
    index: int
    at: float
    delivered: int


async def fire(sim: RunningSimulator, count: int, rate: float) -> list[Fired]:
    """channel.follow at `rate`/s, each with its own marker as the follower's name."""
    fired: list[Fired] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index in range(count):
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        marker = f"m{index:06d}"
        event = {"user_name": marker, "user_login": marker, "user_id": str(90_000_000 + index)}
        at = time.time()
        result = await sim.trigger("channel.follow", event=event)
        fired.append(Fired(marker, index, at, int(result["delivered"])))
    return fired


async def restart_redis(
    redis: Redis, restarts: int, seconds: float, down_s: float
) -> list[tuple[float, float, float]]:
    """SIGKILL Redis `restarts` times, evenly spaced over the run; per restart (run time of the
    kill, wall clock of the kill, wall clock of the first PONG after it)."""
    outages: list[tuple[float, float, float]] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    for number in range(restarts):
        moment = seconds * (number + 1) / (restarts + 1)
        await asyncio.sleep(max(0.0, start + moment - loop.time()))
        offset, killed = loop.time() - start, time.time()
        redis.kill()
        await asyncio.sleep(down_s)
        await redis.start()
        outages.append((offset, killed, time.time()))
    return outages


def catch_up(
    outage: tuple[float, float, float], fired: list[Fired], clients: list[Client]
) -> tuple[int, float]:
    """Events fired while Redis was down, and how long after its return the last of them
    reached the last client (negative: all were there before its PONG was seen)."""
    _, killed, back = outage
    during = {f.marker for f in fired if killed <= f.at <= back and f.delivered}
    arrivals = [at for client in clients for marker, at, _ in client.frames if marker in during]
    return len(during), (max(arrivals) - back) if arrivals else float("nan")


async def scenario(args: argparse.Namespace, label: str, restarts: int) -> dict[str, Any]:
    """One whole run on a fresh Redis, simulator and StreamCore; stopped in reverse order."""
    workdir = Path(tempfile.mkdtemp(prefix=f"streamcore-faults-{label}-"))
    redis = Redis(workdir, args.appendfsync)
    try:
        await redis.start()
        # The simulator must accept StreamCore's callback URL, so StreamCore's port comes first.
        port = free_port()
        redirect = f"http://127.0.0.1:{port}/tokens/callback"
        main_task = asyncio.current_task()
        assert main_task is not None
        async with run_simulator(redirect_uri=redirect) as sim:
            with signals_cancel(main_task):
                server = StreamCore(workdir, port, redis.url, sim)
                try:
                    await server.ready()
                    return await exercise(args, label, restarts, redis, sim, server)
                finally:
                    await server.close()
    finally:
        redis.kill()
        if args.keep:
            print(f"[{label}] kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


async def exercise(
    args: argparse.Namespace,
    label: str,
    restarts: int,
    redis: Redis,
    sim: RunningSimulator,
    server: StreamCore,
) -> dict[str, Any]:
    """Connect the clients, fire while restarting Redis, drain, and measure."""
    url = f"ws://127.0.0.1:{server.port}/ws/events?events={EVENT}"
    clients = [Client(number + 1, url) for number in range(args.clients)]
    readers = [asyncio.create_task(client.run()) for client in clients]
    try:
        await asyncio.wait_for(asyncio.gather(*(client.connected.wait() for client in clients)), 15)

        async def all_connected() -> bool:
            return bool((await server.status())["clients"]["connected"] >= args.clients)

        await wait_for("the clients to be registered", all_connected, 15)
        count = int(args.rate * args.seconds)
        print(
            f"[{label}] firing {count} channel.follow at {args.rate:g}/s with "
            f"{args.clients} clients, {restarts} Redis restart(s) ...",
            flush=True,
        )
        started = time.monotonic()
        async with asyncio.TaskGroup() as group:
            firing = group.create_task(fire(sim, count, args.rate))
            restarting = group.create_task(
                restart_redis(redis, restarts, args.seconds, args.down_s)
            )
        fired, outages = firing.result(), restarting.result()
        fire_s = time.monotonic() - started
        expected = {f.marker for f in fired if f.delivered}

        drain_started = time.monotonic()
        deadline = drain_started + args.drain_s
        while time.monotonic() < deadline and any(  # noqa: ASYNC110 - polling the readers
            not expected <= client.markers() for client in clients
        ):
            await asyncio.sleep(0.1)
        drain_s = time.monotonic() - drain_started
        await asyncio.sleep(args.settle_s)  # late duplicates would show up here
        status = await server.status()
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    everywhere = clients[0].markers().intersection(*(c.markers() for c in clients[1:]))
    lost = expected - everywhere
    events = []
    for outage in outages:
        held, late = catch_up(outage, fired, clients)
        events.append(
            f"t={outage[0]:5.1f}s: Redis SIGKILLed, PONG again after "
            f"{outage[2] - outage[1]:.2f} s; the {held} events fired meanwhile had all "
            f"reached every client {late:.2f} s after that"
        )
    return {
        "label": label,
        "restarts": restarts,
        "events": events,
        "fired": len(fired),
        "undelivered": len(fired) - len(expected),
        "fire_s": fire_s,
        "drain_s": drain_s,
        "rows": [measure(client, fired) for client in clients],
        "status": status,
        "diagnosis": await diagnose(redis.url, lost) if lost else [],
        "log": server.log_summary(),
    }


async def diagnose(redis_url: str, lost: set[str]) -> list[str]:
    """Where the lost markers are in Redis: the worker's stream entry, whether it is still
    pending in the alerts group (and for which consumer), whether its emit happened."""
    client: Any = aioredis.Redis.from_url(redis_url, decode_responses=True)
    lines: list[str] = []
    try:
        stream, group = "eventsub:channel.follow", "worker:alerts"
        entries: dict[str, str] = {}
        for entry_id, fields in await client.xrange(stream):
            marker = json.loads(fields["payload"])["event"]["user_name"]
            if marker in lost:
                entries[marker] = entry_id
        pending = {
            p["message_id"]: p for p in await client.xpending_range(stream, group, "-", "+", 1000)
        }
        summary = await client.xpending(stream, group)
        owners = ", ".join(f"{c['name']}: {c['pending']}" for c in summary["consumers"])
        lines.append(f"{group} on {stream}: {summary['pending']} pending ({owners})")
        for marker in sorted(lost):
            entry_id = entries.get(marker)
            if entry_id is None:
                lines.append(f"{marker}: not in {stream} (never appended by the gateway)")
                continue
            emitted = await client.exists(f"emitted:alerts:{stream}/{entry_id}:0")
            where = pending.get(entry_id)
            state = "not pending (acked)"
            if where:
                idle = where["time_since_delivered"] / 1e3
                state = (
                    f"pending for consumer {where['consumer']}, delivered "
                    f"{where['times_delivered']} time(s), idle {idle:.1f} s"
                )
            lines.append(
                f"{marker}: {stream} entry {entry_id}, {state}, "
                f"alert.follow emitted: {'yes' if emitted else 'no'}"
            )
    except Exception as error:  # a diagnosis must not hide the figures
        lines.append(f"diagnosis failed: {type(error).__name__}: {error}")
    finally:
        await client.aclose()
    return lines


def measure(client: Client, fired: list[Fired]) -> dict[str, Any]:
    sent = {f.marker: f for f in fired if f.delivered}
    seen: Counter[str] = Counter()
    first_order: list[int] = []
    latencies: list[float] = []
    unknown = 0
    for marker, at, _ in client.frames:
        if marker not in sent:
            unknown += 1
            continue
        seen[marker] += 1
        if seen[marker] == 1:
            first_order.append(sent[marker].index)
            latencies.append(at - sent[marker].at)
    ids = [parse_id(event_id) for _, _, event_id in client.frames]
    return {
        "client": client.number,
        "sent": len(sent),
        "received": len(client.frames),
        "lost": sum(1 for marker in sent if marker not in seen),
        "doubled": sum(count - 1 for count in seen.values() if count > 1),
        "out_of_order": inversions(first_order),
        "id_regressions": sum(1 for a, b in itertools.pairwise(ids) if b <= a),
        "unknown": unknown,
        "reconnects": client.reconnects,
        "closes": client.closes,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies, default=float("nan")),
    }


def parse_id(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)
