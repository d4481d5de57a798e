"""The fan-out half of the channels benchmark (bench/channels.py): /ws/events clients, each on
one channel (`?channel=<login>`), and events published for those channels.

- `ChannelClient`: bench/bench_client.py's raw WebSocket client (handshake, pings, deflate),
  reading each text frame's envelope for its `"channel":{"id":...}` instead of a sequence
  number: an event of another channel is a cross-channel delivery, one without a channel a
  system event (counted apart);
- `client_process`: a process of such clients (spawned, as bench/fanout.py does), which
  reports once the clients are connected and again once they have what was published;
- `fan_out`: one phase on a fresh `streamcore run` replica: idle RSS, clients connected, RSS
  again, then events published from this process (an EventPublisher on the same Redis, with
  `channel=`) at an even rate, and the replica's CPU time until the last delivery.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bench_client import BenchClient
from bench.chaos_stack import Replica

EVENT = "channels.tick"
CHANNEL_MARK = b'"channel":{"id":"'
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
#: Clients connecting at once, per client process.
CONNECT_BATCH = 100


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system (kernel) CPU seconds of `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLOCK_TICK, int(fields[12]) / CLOCK_TICK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class ChannelClient(BenchClient):
    def __init__(self, path: str, port: int, ready: asyncio.Future[bool], channel_id: str) -> None:
        super().__init__(path, port, None, ready)
        self.channel_id = channel_id.encode()
        self.cross = 0
        self.system = 0

    def _on_text(self, payload: bytes, now: float) -> None:
        """An envelope: counted by its channel (bench_client does the framing)."""
        at = payload.rfind(CHANNEL_MARK)
        if at < 0:
            self.system += 1
            return
        start = at + len(CHANNEL_MARK)
        if payload[start : payload.find(b'"', start)] != self.channel_id:
            self.cross += 1
            return
        self.stats.received += 1
        self.stats.last_at = now


async def open_channel_client(port: int, login: str, channel_id: str) -> ChannelClient:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[bool] = loop.create_future()
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    path = f"/ws/events?channel={login}"
    _, protocol = await loop.create_connection(
        lambda: ChannelClient(path, port, ready, channel_id), sock=sock
    )
    await asyncio.wait_for(ready, 30)
    return protocol


def client_process(port: int, assignments: list[tuple[str, str]], pipe: Any) -> None:
    """`assignments`: (channel id, login) per client."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_clients(port, assignments, pipe))


async def _clients(port: int, assignments: list[tuple[str, str]], pipe: Any) -> None:
    clients: list[ChannelClient] = []
    for start in range(0, len(assignments), CONNECT_BATCH):
        batch = assignments[start : start + CONNECT_BATCH]
        clients += await asyncio.gather(
            *(open_channel_client(port, login, cid) for cid, login in batch)
        )
    pipe.send("ready")
    loop = asyncio.get_running_loop()
    expected = await loop.run_in_executor(None, pipe.recv)
    deadline = loop.time() + 30
    while loop.time() < deadline and any(c.stats.received < expected for c in clients):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    pipe.send(
        {
            "received": sum(c.stats.received for c in clients),
            "lost": sum(max(0, expected - c.stats.received) for c in clients),
            "cross": sum(c.cross for c in clients),
            "system": sum(c.system for c in clients),
            "closed": sum(c.stats.closed for c in clients),
            "last_at": max((c.stats.last_at for c in clients), default=0.0),
        }
    )
    for client in clients:
        if client.transport is not None:
            client.transport.abort()


@dataclass
class Phase:
    label: str
    clients: int
    channels: int
    events: int  # published
    per_client: int  # events each client should get
    seconds: float  # publishing spread over
    rss_idle: int = 0
    rss_connected: int = 0
    connect_s: float = 0.0
    cpu_s: float = 0.0
    #: The kernel's part of cpu_s (socket writes, wakeups).
    sys_s: float = 0.0
    received: int = 0
    lost: int = 0
    cross: int = 0
    system: int = 0
    closed: int = 0
    delivered_s: float = 0.0  # first publish to last delivery
    #: Reads of the event log by the replica's tail during the phase (batching: events/reads).
    log_reads: int = 0
    #: Whether the measured replica held the coordinator lease (it should not: see channels.py).
    coordinator: bool = False

    @property
    def deliveries(self) -> int:
        return self.clients * self.per_client

    @property
    def cpu_us_per_delivery(self) -> float:
        return self.cpu_s / self.received * 1e6 if self.received else float("nan")

    @property
    def user_us_per_delivery(self) -> float:
        return (self.cpu_s - self.sys_s) / self.received * 1e6 if self.received else float("nan")

    @property
    def kernel_us_per_delivery(self) -> float:
        return self.sys_s / self.received * 1e6 if self.received else float("nan")

    @property
    def kb_per_client(self) -> float:
        return (self.rss_connected - self.rss_idle) / self.clients / 1024


async def log_reads(replica: Replica) -> int:
    """The replica's reads of the event log so far. A long timeout: read after a phase, it
    may wait for the replica to see 10,000 clients leave (its CPU time is read before)."""
    return int((await replica.status(timeout_s=120))["clients"]["log_reads"])


async def publish(redis_url: str, schedule: list[tuple[str, str]], seconds: float) -> float:
    """Publish one event per entry of `schedule` ((id, login) of its channel), evenly over
    `seconds`, each due batch at once; returns the wall-clock time of the first publish."""
    from bus.redis import RedisBus
    from core.channels import ChannelTag
    from events.publisher import EventPublisher

    bus = RedisBus(redis_url)
    await bus.connect()
    try:
        publisher = EventPublisher(bus)
        tags = {channel: ChannelTag(*channel) for channel in set(schedule)}
        rate = len(schedule) / seconds
        loop = asyncio.get_running_loop()
        start, first, sent = loop.time(), time.time(), 0
        while sent < len(schedule):
            due = min(len(schedule), int((loop.time() - start) * rate) + 1)
            await asyncio.gather(
                *(
                    publisher.publish(EVENT, {"n": n}, channel=tags[schedule[n]])
                    for n in range(sent, due)
                )
            )
            sent = due
            await asyncio.sleep(max(0.0, start + sent / rate - loop.time()))
        return first
    finally:
        await bus.close()


async def fan_out(
    phase: Phase,
    replica: Replica,
    assignments: list[tuple[str, str]],
    schedule: list[tuple[str, str]],
    redis_url: str,
    processes: int,
) -> Phase:
    """One phase on `replica`, fresh and serving (the system stopped: the fan-out runs
    regardless); the replica is stopped at the end."""
    context = multiprocessing.get_context("spawn")
    children: list[Any] = []
    try:
        assert replica.run is not None
        pid = replica.run.process.pid
        # One client connects and leaves first, so the idle figure includes what the first
        # connection loads (the channel list, the WebSocket code paths).
        login, channel_id = assignments[0][1], assignments[0][0]
        warm = await open_channel_client(replica.port, login, channel_id)
        assert warm.transport is not None
        warm.transport.close()
        await asyncio.sleep(1.0)
        phase.rss_idle = rss_bytes(pid)
        began = time.monotonic()
        pipes = []
        for n in range(processes):
            parent, child = context.Pipe()
            process = context.Process(
                target=client_process, args=(replica.port, assignments[n::processes], child)
            )
            process.start()
            children.append(process)
            pipes.append(parent)
        for pipe in pipes:
            if not await asyncio.to_thread(pipe.poll, 180) or pipe.recv() != "ready":
                raise RuntimeError(f"clients did not connect in time: {replica.tail()}")
        phase.connect_s = time.monotonic() - began
        await asyncio.sleep(1.0)
        phase.rss_connected = rss_bytes(pid)
        phase.coordinator = bool((await replica.status())["cluster"]["is_coordinator"])
        reads_before = await log_reads(replica)
        user_before, sys_before = cpu_times(pid)
        first = await publish(redis_url, schedule, phase.seconds)
        for pipe in pipes:
            pipe.send(phase.per_client)
        reports = []
        for pipe in pipes:
            if not await asyncio.to_thread(pipe.poll, 90):
                raise RuntimeError("clients did not report in time")
            reports.append(pipe.recv())
        user_after, sys_after = cpu_times(pid)
        phase.log_reads = await log_reads(replica) - reads_before
        phase.sys_s = sys_after - sys_before
        phase.cpu_s = user_after - user_before + phase.sys_s
        for key in ("received", "lost", "cross", "system", "closed"):
            setattr(phase, key, sum(r[key] for r in reports))
        phase.delivered_s = max(r["last_at"] for r in reports) - first
        return phase
    finally:
        for process in children:
            await asyncio.to_thread(process.join, 10)
            if process.is_alive():
                process.kill()
        await replica.close()
