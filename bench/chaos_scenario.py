"""One run of the chaos benchmark (bench/chaos.py), and its per-client figures.

`scenario` starts the stack (bench/chaos_stack.py), connects the clients (one directly on each
replica, one through nginx), checks the chain end to end with probe events, then fires the
mixed load (`fire`) while `chaos` SIGKILLs a random replica every --kill-every seconds and
starts it again at once (same id, same port). `supervise` plays Docker's restart policy for a
replica that exits by itself (e.g. refused at start). After a drain, `measure` turns each
client's frames into sent, received, lost (inside / outside announced gaps), doubled and
latency. With --pause-redis, `pause_redis` (bench/chaos_pause.py) SIGSTOPs the private
redis-server mid-run while a `StatusWatch` polls every replica's status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.chaos_clients import EVENTS, Recorder, SessionWatch, first_announcement, gaps_of
from bench.chaos_pause import STATUS_LEAD_S, Pause, StatusWatch, pause_redis, plan_pause
from bench.chaos_stack import Replica, Stack, cluster_stack, is_conduit, log_summary
from bench.faults_scenario import percentile

#: The mix fired round-robin: EventSub type -> (the alert it becomes, the marker's fields).
#: The alerts worker puts the marker into the alert's `data.user.name` for each of them.
USER = ("user_name", "user_login", "user_id")
RAIDER = ("from_broadcaster_user_name", "from_broadcaster_user_login", "from_broadcaster_user_id")
MIX: list[tuple[str, str, tuple[str, str, str], dict[str, Any]]] = [
    ("channel.follow", "alert.follow", USER, {}),
    ("channel.subscribe", "alert.sub", USER, {}),
    ("channel.cheer", "alert.cheer", USER, {"is_anonymous": False}),
    ("channel.raid", "alert.raid", RAIDER, {}),
    ("channel.subscription.message", "alert.resub", USER, {}),
    ("channel.subscription.gift", "alert.gift", USER, {"is_anonymous": False}),
]
#: A first copy arriving later than this after its trigger counts as late.
LATE_S = 1.0


@dataclass
class Fired:
    marker: str
    index: int
    sub_type: str
    before: float  # wall clock just before the trigger
    after: float  # and just after it returned
    delivered: int


def in_gap(fired: Fired, gaps: list[tuple[float, float]]) -> bool:
    return any(since <= fired.after and fired.before <= until for since, until in gaps)


async def trigger(stack: Stack, index: int, marker: str) -> Fired:
    sub_type, _, (name, login, user_id), extra = MIX[index % len(MIX)]
    event = {name: marker, login: marker, user_id: str(90_000_000 + index), **extra}
    before = time.time()
    result = await stack.sim.trigger(sub_type, event=event)
    return Fired(marker, index, sub_type, before, time.time(), int(result["delivered"]))


async def fire(stack: Stack, count: int, rate: float) -> list[Fired]:
    """The mix at `rate`/s, each with its own marker (catching up when the loop lags)."""
    fired: list[Fired] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index in range(count):
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        fired.append(await trigger(stack, index, f"m{index:06d}"))
    return fired


async def probe(stack: Stack, recorders: list[Recorder], timeout_s: float = 60.0) -> None:
    """Fire probe follows until every client received one: the whole chain works."""
    deadline = time.monotonic() + timeout_s
    number = 0
    while time.monotonic() < deadline:
        number += 1
        marker = f"probe{number:04d}"
        await trigger(stack, 0, marker)
        until = time.monotonic() + 2.0
        while time.monotonic() < until:
            if all(marker in r.markers() for r in recorders):
                return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"no probe event reached every client within {timeout_s:g} s")


# -- chaos ---------------------------------------------------------------------------------------


@dataclass
class Kill:
    offset: float  # seconds into the run
    at: float  # wall clock of the SIGKILL
    victim: str
    coordinator: str | None  # who held the lease just before
    takeover_s: float | None = None  # status poll: another replica coordinating, subscribed
    new_coordinator: str | None = None
    subscribed_s: float | None = None  # a client saw system.gateway connected/subscribed
    serving_s: float | None = None  # the restarted replica answering GET / again
    #: Conduit (WebSocket shards): the shards the victim held, and how long until every one
    #: of them had a subscribed session again (on any replica, the restarted victim included).
    shards: list[str] = field(default_factory=list)
    shard_takeover_s: float | None = None

    @property
    def hit_coordinator(self) -> bool:
        return self.coordinator == self.victim


async def supervise(stack: Stack) -> None:
    """Docker's `restart: unless-stopped` for a replica that exits by itself; notes when each
    (re)started run begins to serve."""
    while True:
        for replica in stack.replicas:
            if replica.check_exit():
                replica.start()
            run = replica.run
            if run is not None and run.serving is None and replica.alive:
                with contextlib.suppress(httpx.HTTPError):
                    if await replica.serving():
                        run.serving = time.time()
        await asyncio.sleep(0.1)


async def coordinating(replica: Replica) -> bool:
    try:
        status = await asyncio.wait_for(replica.status(), 1.0)
    except (httpx.HTTPError, TimeoutError):
        return False
    gateway = status.get("gateway") or {}
    return bool(
        status["cluster"]["is_coordinator"]
        and gateway.get("state") == "connected"
        and gateway.get("reason") == "subscribed"
    )


async def measure_takeover(stack: Stack, kill: Kill, timeout_s: float) -> None:
    """Poll every live replica every 100 ms until one coordinates with a subscribed gateway."""
    while time.time() - kill.at < timeout_s:
        live = [r for r in stack.replicas if r.alive]
        answers = await asyncio.gather(*(coordinating(r) for r in live))
        for replica, acting in zip(live, answers, strict=True):
            if acting:
                kill.takeover_s = time.time() - kill.at
                kill.new_coordinator = replica.replica_id
                return
        await asyncio.sleep(0.1)


async def subscribed_shards(replica: Replica) -> set[str]:
    try:
        status = await asyncio.wait_for(replica.status(), 1.0)
    except (httpx.HTTPError, TimeoutError):
        return set()
    shards = (status.get("gateway") or {}).get("shards") or {}
    return {
        shard_id
        for shard_id, shard in shards.items()
        if shard.get("state") == "connected" and shard.get("reason") == "subscribed"
    }


async def measure_shard_takeover(stack: Stack, kill: Kill, timeout_s: float) -> None:
    """Poll every live replica every 100 ms until each of the victim's shards is subscribed
    somewhere again."""
    while time.time() - kill.at < timeout_s:
        live = [r for r in stack.replicas if r.alive]
        held = set().union(*await asyncio.gather(*(subscribed_shards(r) for r in live)))
        if held >= set(kill.shards):
            kill.shard_takeover_s = time.time() - kill.at
            return
        await asyncio.sleep(0.1)


async def measure_restart(replica: Replica, kill: Kill, timeout_s: float) -> None:
    while time.time() - kill.at < timeout_s:
        run = replica.run
        if run is not None and run.serving is not None and run.started >= kill.at:
            kill.serving_s = run.serving - kill.at
            return
        await asyncio.sleep(0.1)


async def chaos(
    stack: Stack,
    args: argparse.Namespace,
    rng: random.Random,
    kills: list[Kill],
    start: float,
    pause: Pause | None = None,
) -> None:
    """Every --kill-every s from `start` (loop time), SIGKILL a random serving replica and
    start it again at once; none just before, during or just after the Redis pause."""
    loop = asyncio.get_running_loop()
    measuring: list[asyncio.Task[None]] = []
    moments = [n * args.kill_every for n in range(1, int(args.seconds / args.kill_every) + 1)]
    try:
        for moment in (m for m in moments if m < args.seconds):
            await asyncio.sleep(max(0.0, start + moment - loop.time()))
            if pause is not None and (pause.blocks_kill(moment) or pause.quiet(time.time())):
                pause.skipped_kills.append(moment)
                print(f"  t={moment:5.1f}s no kill (Redis pause)", flush=True)
                continue
            serving = [r for r in stack.replicas if r.alive and r.run and r.run.serving]
            if not serving:
                continue
            status = await stack.any_status()
            holder = ((status or {}).get("cluster") or {}).get("coordinator") or {}
            coordinator = holder.get("replica_id")
            victim = rng.choice(serving)
            if args.coordinator_first and not kills:
                victim = next((r for r in serving if r.replica_id == coordinator), victim)
            shards: list[str] = []
            if stack.transport == "conduit":  # WebSocket shards: whose are they?
                with contextlib.suppress(httpx.HTTPError, TimeoutError):
                    mine = await asyncio.wait_for(victim.status(), 1.0)
                    shards = sorted(((mine.get("gateway") or {}).get("shards") or {}), key=int)
            kill = Kill(loop.time() - start, time.time(), victim.replica_id, coordinator)
            kill.shards = shards
            await victim.kill()
            victim.start()
            kills.append(kill)
            print(f"  t={kill.offset:5.1f}s SIGKILL {victim.replica_id}"
                  f"{' (coordinator)' if kill.hit_coordinator else ''}", flush=True)  # fmt: skip
            measuring.append(asyncio.create_task(measure_restart(victim, kill, 90)))
            if kill.hit_coordinator and stack.transport == "websocket":
                measuring.append(asyncio.create_task(measure_takeover(stack, kill, 60)))
            if kill.shards:
                measuring.append(asyncio.create_task(measure_shard_takeover(stack, kill, 60)))
        await asyncio.gather(*measuring)
    finally:
        for task in measuring:
            task.cancel()


# -- one scenario ----------------------------------------------------------------------------


def recorders_for(stack: Stack) -> list[Recorder]:
    direct = [
        Recorder(r.replica_id, f"ws://127.0.0.1:{r.port}/ws/events?events={EVENTS}")
        for r in stack.replicas
    ]
    proxied = f"ws://127.0.0.1:{stack.nginx.port}/ws/events?events={EVENTS}&key={stack.key}"
    return [*direct, Recorder("proxy", proxied)]


async def scenario(
    args: argparse.Namespace, label: str, replicas: int, transport: str, chaotic: bool
) -> dict[str, Any]:
    async with cluster_stack(label, replicas, transport, args.lease_s, args.keep) as stack:
        return await exercise(args, stack, chaotic)


async def exercise(args: argparse.Namespace, stack: Stack, chaotic: bool) -> dict[str, Any]:
    recorders = recorders_for(stack)
    watch = SessionWatch(f"{stack.sim.control_url}/sessions", settle_s=args.settle_overlap_s)
    background = [asyncio.create_task(r.run()) for r in recorders]
    background.append(asyncio.create_task(supervise(stack)))
    kills: list[Kill] = []
    rng = random.Random(args.seed)
    pause = new_pause(args) if chaotic else None
    try:
        await probe(stack, recorders)
        background.append(asyncio.create_task(watch.run()))
        count = int(args.rate * args.seconds)
        kill_note = f"SIGKILL every {args.kill_every:g} s" if chaotic else "no kills"
        if pause is not None:
            kill_note += f", Redis paused {pause.seconds:g} s at t={pause.offset:g}s"
        print(f"[{stack.label}] {stack.transport}: {len(stack.replicas)} replica(s), firing "
              f"{count} events at {args.rate:g}/s, {kill_note} ...", flush=True)  # fmt: skip
        # The probes may find no shard enabled yet: the bench's warm-up, shown apart.
        dropped_early = await dropped_of(stack) if is_conduit(stack.transport) else None
        started = time.monotonic()
        start = asyncio.get_running_loop().time()
        if pause is not None:
            status_watch = StatusWatch(
                [(r.replica_id, r.url) for r in stack.replicas], pause.samples
            )
            lead = max(0.0, pause.offset - STATUS_LEAD_S)
            background.append(asyncio.create_task(status_watch.run(lead)))
        async with asyncio.TaskGroup() as group:
            firing = group.create_task(fire(stack, count, args.rate))
            if chaotic:
                group.create_task(chaos(stack, args, rng, kills, start, pause))
            if pause is not None:
                group.create_task(pause_redis(stack, pause, start, lambda: dropped_of(stack)))
        fired = firing.result()
        fire_s = time.monotonic() - started
        drain_s = await drain(args, stack, recorders, fired)
        await asyncio.sleep(args.settle_s)  # late duplicates would show up here
        status = await stack.any_status()
        conduits = await conduits_of(stack) if is_conduit(stack.transport) else None
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
    gaps = gaps_of(recorders)
    for kill in kills:
        seen = first_announcement(recorders, kill.at, "connected", "subscribed")
        if kill.hit_coordinator and seen is not None and stack.transport == "websocket":
            kill.subscribed_s = seen - kill.at
    if pause is not None and pause.continued_at is not None and stack.transport == "websocket":
        pause.client_back = first_announcement(
            recorders, pause.continued_at, "connected", "subscribed"
        )
    return {
        "label": stack.label,
        "transport": stack.transport,
        "replicas": len(stack.replicas),
        "fired": fired,
        "fire_s": fire_s,
        "drain_s": drain_s,
        "gaps": gaps,
        "rows": [measure(r, fired, gaps) for r in recorders],
        "kills": kills,
        "watch": watch,
        "exits": {r.replica_id: r.exits for r in stack.replicas if r.exits},
        "status": status or {},
        "conduits": conduits,
        "dropped_before_firing": dropped_early,
        "pause": pause,
        "log": log_summary([r.log for r in stack.replicas]),
    }


def new_pause(args: argparse.Namespace) -> Pause | None:
    return plan_pause(
        args.seconds, args.kill_every, args.pause_redis, args.lease_s, args.pause_settle_s
    )


async def dropped_of(stack: Stack) -> int | None:
    """The simulator's count of conduit notifications no shard could take."""
    with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
        return (await conduits_of(stack))["dropped"]
    return None


async def conduits_of(stack: Stack) -> dict[str, Any]:
    """The simulator's conduits: how many, their shards' statuses, the notifications dropped."""
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"{stack.sim.control_url}/conduits")
    response.raise_for_status()
    body = response.json()
    shards = Counter(s.get("status") for c in body["data"] for s in c.get("shards") or [])
    return {"count": len(body["data"]), "dropped": body.get("dropped"), "shards": dict(shards)}


async def drain(
    args: argparse.Namespace, stack: Stack, recorders: list[Recorder], fired: list[Fired]
) -> float:
    """Wait until every replica serves again and every client has every event that was
    delivered outside an announced gap (or --drain-s passes)."""
    started = time.monotonic()
    while time.monotonic() - started < args.drain_s:
        gaps = gaps_of(recorders)
        expected = {f.marker for f in fired if f.delivered and not in_gap(f, gaps)}
        up = all(r.alive and r.run and r.run.serving for r in stack.replicas)
        if up and all(expected <= r.markers() for r in recorders):
            break
        await asyncio.sleep(0.2)
    return time.monotonic() - started


@dataclass
class Row:
    client: str
    sent: int
    received: int
    lost: int
    lost_in_gaps: int
    lost_outside: list[Fired] = field(default_factory=list)
    doubled: int = 0
    lost_fired: list[Fired] = field(default_factory=list)
    doubled_fired: list[Fired] = field(default_factory=list)
    unknown: int = 0
    connects: int = 0
    refused: int = 0
    closes: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @property
    def late(self) -> int:
        return sum(1 for latency in self.latencies if latency > LATE_S)

    def latency(self, p: float) -> float:
        return percentile(self.latencies, p)


def measure(recorder: Recorder, fired: list[Fired], gaps: list[tuple[float, float]]) -> Row:
    sent = {f.marker: f for f in fired}
    seen: Counter[str] = Counter()
    latencies: list[float] = []
    unknown = 0
    for marker, at, _ in recorder.frames:
        if marker not in sent:
            unknown += 0 if marker.startswith("probe") else 1
            continue
        seen[marker] += 1
        if seen[marker] == 1:
            latencies.append(at - sent[marker].before)
    lost = [f for f in fired if f.marker not in seen]
    outside = [f for f in lost if not in_gap(f, gaps)]
    return Row(
        client=recorder.name,
        sent=len(fired),
        received=sum(seen.values()),
        lost=len(lost),
        lost_in_gaps=len(lost) - len(outside),
        lost_outside=outside,
        doubled=sum(count - 1 for count in seen.values() if count > 1),
        lost_fired=lost,
        doubled_fired=[sent[marker] for marker, count in seen.items() if count > 1],
        unknown=unknown,
        connects=recorder.connects,
        refused=recorder.refused,
        closes=recorder.closes,
        latencies=latencies,
    )
