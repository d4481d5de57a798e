"""Fault benchmark: Redis killed and restarted during a live run; do clients get every event once?

    uv run python bench/faults.py            # 30 s at 20 events/s, 3 restarts, then the baseline
    uv run python bench/faults.py --quick    # 12 s, 2 restarts

The claim under test: "Redis restarted 3 times during a 20 events/s run with 3 connected
clients: every client receives every event exactly once, in order." Everything is a real
process on loopback, as in production:
- a private redis-server on a free port with the append-only file on (`--appendonly yes
  --appendfsync always --save ""`), so a restart keeps the streams and consumer groups;
- the Twitch simulator, in this process (simulator.testing.run_simulator);
- StreamCore as `streamcore run` serves it (`python -m cli.main run`), on that Redis and a SQLite
  store in a temporary directory, authorized through its own OAuth flow against the simulator
  (as `streamcore demo` does), then started with POST /system/start;
- --clients WebSocket clients on /ws/events?events=alert.follow, each recording every frame.
`channel.follow` is fired through the simulator at --rate per second for --seconds, each with a
unique marker as the follower's name (the alerts worker turns it into `alert.follow` with
`data.user.name`). Meanwhile Redis is SIGKILLed --restarts times at evenly spaced moments, kept
down --down-s seconds and started again on the same port and directory. After a drain, per
client: sent, received, lost (never received), doubled (received more than once), out of order
(pairs of markers received in the opposite order to the one they were fired in), reconnects,
and trigger -> receipt latency. The same scenario then runs again with 0 restarts (fresh Redis,
fresh StreamCore) as the same-run baseline. Exit status 0 when the target holds, 1 otherwise.
When a client misses an event, the bench looks it up in Redis and prints where it is (`lost:`
lines: its `eventsub:channel.follow` entry, whether the alerts group still holds it pending and
for which consumer, whether its alert was emitted). Harsher runs probe the narrow windows of a
kill, e.g. `--seconds 60 --restarts 40 --down-s 0.3 --rate 50 --no-baseline`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed, InvalidHandshake  # noqa: E402

from simulator.testing import RunningSimulator, run_simulator  # noqa: E402

EVENT = "alert.follow"
#: Every process this bench started; killed on the way out, whatever happens.
PROCESSES: list[subprocess.Popen[bytes]] = []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Children get SIGKILL if this process dies without cleaning up (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def spawn(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
    # Own session: a Ctrl+C reaches only this process, which then stops the others in order.
    process = subprocess.Popen(
        command, start_new_session=True, preexec_fn=_die_with_parent, **options
    )
    PROCESSES.append(process)
    return process


def stop(process: subprocess.Popen[bytes] | None, grace_s: float = 15.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def kill_all() -> None:
    for process in PROCESSES:
        if process.poll() is None:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)


@contextlib.contextmanager
def signals_cancel(task: asyncio.Task[Any]) -> Iterator[None]:
    """While the in-process simulator serves, Ctrl+C and SIGTERM cancel the run.

    uvicorn's `Server.serve` replaces the SIGINT and SIGTERM handlers with its own (which
    would quietly stop only the simulator and let the run go on); installed after it started,
    these win, and uvicorn restores the previous ones when it stops. A second signal kills the
    children at once."""
    loop = asyncio.get_running_loop()

    def cancel(signum: int, frame: Any) -> None:
        if task.cancelling():
            kill_all()
        loop.call_soon_threadsafe(task.cancel)

    previous = {sig: signal.signal(sig, cancel) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def wait_for(what: str, check: Any, timeout_s: float, interval_s: float = 0.1) -> Any:
    """Poll the async `check` until it returns something truthy; RuntimeError after timeout."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = await check()
        except (OSError, httpx.HTTPError) as error:
            last_error, value = error, None
        if value:
            return value
        await asyncio.sleep(interval_s)
    detail = f" (last error: {last_error})" if last_error else ""
    raise RuntimeError(f"timed out after {timeout_s:g} s waiting for {what}{detail}")


# -- Redis -------------------------------------------------------------------------------------


class Redis:
    """A private redis-server with the append-only file on; kill() and start() again at will."""

    def __init__(self, directory: Path, fsync: str = "always") -> None:
        self.directory = directory
        self.fsync = fsync
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--appendonly", "yes", "--appendfsync", self.fsync, "--save", ""]
        command += ["--dir", str(self.directory), "--logfile", str(self.log)]
        process = self.process = spawn(command, stdout=subprocess.DEVNULL)

        async def pong() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode} ({self.log})")
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                writer.write(b"PING\r\n")
                # "-LOADING ..." while the append-only file is read back: not ready yet.
                return await asyncio.wait_for(reader.readline(), 1) == b"+PONG\r\n"
            finally:
                writer.close()

        await wait_for(f"redis-server on port {self.port}", pong, 30, 0.02)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


# -- StreamCore --------------------------------------------------------------------------------


class StreamCore:
    """`streamcore run` as a subprocess, pointed at the private Redis and the simulator."""

    def __init__(self, workdir: Path, port: int, redis_url: str, sim: RunningSimulator) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "streamcore.log"
        data = workdir / "data"
        data.mkdir()
        # Only our settings: none of the caller's StreamCore, Twitch or backend variables.
        prefixes = ("STREAMCORE_", "TWITCH_", "WS_", "EVENTS_", "EVENTSUB_", "WORKER_", "POSTGRES_")
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.upper().startswith(prefixes)
            and name.upper() not in ("REDIS_URL", "DATABASE_URL", "TOKEN_ENCRYPTION_KEY")
        }
        env.update(sim.env(), PYTHONPATH=str(ROOT))
        env.update(
            REDIS_URL=redis_url,
            STREAMCORE_DATA_DIR=str(data),
            TWITCH_REDIRECT_URI=f"{self.base}/tokens/callback",
            STREAMCORE_LOG_LEVEL="WARNING",
            TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        )
        with self.log.open("wb") as log:
            # cwd is the temporary directory, so no .env of the checkout is read.
            self.process = spawn(
                [sys.executable, "-m", "cli.main", "run", "--port", str(self.port)],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # POSTs from loopback carry our own Origin (the CSRF guard wants it).
        self.origin = {"Origin": self.base}
        self.http = httpx.AsyncClient(base_url=self.base, timeout=10)

    async def close(self) -> None:
        await self.http.aclose()
        await asyncio.to_thread(stop, self.process)

    async def ready(self) -> None:
        """Answering, authorized as the simulated broadcaster, started, subscribed, fanning out."""

        async def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"StreamCore exited with {self.process.returncode}: {self.tail()}"
                )
            return (await self.http.get("/")).status_code == 200

        await wait_for("StreamCore to answer GET /", answers, 60, 0.1)
        link = await self.http.get("/tokens/link")
        link.raise_for_status()
        approval = await self.http.get(link.json()["auth_url"], follow_redirects=False)
        if "location" not in approval.headers:
            raise RuntimeError(f"the simulator did not approve: {approval.status_code}")
        callback = await self.http.get(
            approval.headers["location"], headers={"Accept": "application/json"}
        )
        if callback.status_code != 200 or callback.json().get("status") != "connected":
            raise RuntimeError(f"OAuth callback failed: {callback.status_code} {callback.text}")
        started = await self.http.post("/system/start", headers=self.origin)
        if started.status_code != 200:
            raise RuntimeError(f"POST /system/start: {started.status_code} {started.text}")

        async def running() -> bool:
            status = await self.status()
            follow = [s for s in status["subscriptions"] if s["type"] == "channel.follow"]
            alerts = [w for w in status["workers"] if w["name"] == "alerts"]
            return (
                status["gateway"].get("state") == "connected"
                and bool(follow)
                and all(s["status"] == "enabled" for s in follow)
                and bool(alerts)
                and alerts[0]["state"] == "running"
                and bool(status["clients"].get("subscribed"))
            )

        await wait_for("gateway connected, channel.follow enabled, alerts running", running, 30)

    async def status(self) -> dict[str, Any]:
        response = await self.http.get("/system/status")
        response.raise_for_status()
        return dict(response.json())

    def tail(self, lines: int = 5) -> str:
        text = self.log.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def log_summary(self) -> tuple[Counter[str], Counter[str]]:
        """Lines per level, and the distinct WARNING/ERROR messages (numbers blanked)."""
        levels: Counter[str] = Counter()
        messages: Counter[str] = Counter()
        for line in self.log.read_text(errors="replace").splitlines():
            found = re.search(r"\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b", line)
            if not found:
                continue
            levels[found.group(1)] += 1
            if found.group(1) in ("WARNING", "ERROR", "CRITICAL"):
                text = line[found.end() :].strip()
                text = re.sub(r"\d+(\.\d+)?", "N", text)[:140]
                messages[f"{found.group(1)} {text}"] += 1
        return levels, messages


# -- clients -----------------------------------------------------------------------------------


@dataclass
class Client:
    """One /ws/events client: every alert.follow frame, in arrival order."""

    number: int
    url: str
    frames: list[tuple[str, float, str]] = field(default_factory=list)  # (marker, at, id)
    other_frames: int = 0
    reconnects: int = 0
    closes: list[str] = field(default_factory=list)
    last_id: str | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    def markers(self) -> set[str]:
        return {marker for marker, _, _ in self.frames}

    async def run(self) -> None:
        """Read until cancelled; after a close, reconnect with ?since= as streamcore.js does."""
        while True:
            url = self.url if self.last_id is None else f"{self.url}&since={self.last_id}"
            try:
                async with connect(
                    url, compression=None, ping_interval=None, open_timeout=10, max_size=2**20
                ) as socket_:
                    self.connected.set()
                    async for message in socket_:
                        at = time.time()
                        envelope = json.loads(message)
                        if envelope.get("event") != EVENT:
                            self.other_frames += 1
                            continue
                        self.last_id = envelope["id"]
                        self.frames.append((envelope["data"]["user"]["name"], at, envelope["id"]))
                    self.closes.append(f"closed {socket_.close_code} {socket_.close_reason}")
            except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as error:
                self.closes.append(f"{type(error).__name__}: {error}")
            self.reconnects += 1
            await asyncio.sleep(0.25)


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


# -- report ------------------------------------------------------------------------------------


def passes(result: dict[str, Any]) -> bool:
    return result["undelivered"] == 0 and all(
        row["sent"] == result["fired"]
        and row["lost"] == 0
        and row["doubled"] == 0
        and row["out_of_order"] == 0
        and row["id_regressions"] == 0
        and row["unknown"] == 0
        for row in result["rows"]
    )


def show(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\n== faults: {args.clients} clients on /ws/events?events={EVENT}, channel.follow at "
        f"{args.rate:g}/s x {args.seconds:g} s, Redis SIGKILLed and restarted "
        f"(down {args.down_s:g} s, AOF appendfsync {args.appendfsync})"
    )
    print(
        f"{'run':<10}{'restarts':>9}{'client':>7}{'sent':>6}{'recv':>6}{'lost':>6}"
        f"{'doubled':>8}{'ooo':>5}{'reconn':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    for result in results:
        for row in result["rows"]:
            print(
                f"{result['label']:<10}{result['restarts']:>9}{row['client']:>7}{row['sent']:>6}"
                f"{row['received']:>6}{row['lost']:>6}{row['doubled']:>8}"
                f"{row['out_of_order']:>5}{row['reconnects']:>7}{row['p50'] * 1e3:>9.1f}"
                f"{row['p99'] * 1e3:>9.1f}{row['max'] * 1e3:>9.1f}"
            )
    for result in results:
        status = result["status"]
        gateway = status["gateway"]
        alerts: dict[str, Any] = next((w for w in status["workers"] if w["name"] == "alerts"), {})
        clients = status["clients"]
        print(f"\n[{result['label']}] fired {result['fired']} in {result['fire_s']:.1f} s "
              f"({result['undelivered']} found no enabled subscription in the simulator); "
              f"drain {result['drain_s']:.1f} s")  # fmt: skip
        for line in result["events"]:
            print(f"  {line}")
        print(f"  gateway: state {gateway.get('state')}, received {gateway.get('received')}, "
              f"deduplicated {gateway.get('deduplicated')}, bus_retries "
              f"{gateway.get('bus_retries')}, reconnects {gateway.get('reconnects')}")  # fmt: skip
        print(f"  worker alerts: handled {alerts.get('handled')}, failed {alerts.get('failed')}, "
              f"dead_letters {alerts.get('dead_letters')}, pending {alerts.get('pending')}, "
              f"lag {alerts.get('lag')}, state {alerts.get('state')}")  # fmt: skip
        print(f"  fan-out: events {clients.get('events')}, log_outages "
              f"{clients.get('log_outages')}, slow_disconnects "
              f"{clients.get('slow_disconnects')}, task_failures "
              f"{status.get('task_failures')}")  # fmt: skip
        for row in result["rows"]:
            extra = []
            if row["id_regressions"]:
                extra.append(f"{row['id_regressions']} envelope id regressions")
            if row["unknown"]:
                extra.append(f"{row['unknown']} frames with an unknown marker")
            if row["closes"]:
                extra.append(f"closes: {'; '.join(row['closes'][:3])}")
            if extra:
                print(f"  client {row['client']}: {', '.join(extra)}")
        for line in result["diagnosis"]:
            print(f"  lost: {line}")
        levels, messages = result["log"]
        print(f"  StreamCore log: {dict(levels) or 'nothing at WARNING or above'}")
        for message, times in messages.most_common(args.log_lines):
            print(f"    {times:>4} x {message}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="--seconds 12 --restarts 2")
    parser.add_argument("--seconds", type=float, help="firing time (default 30, quick 12)")
    parser.add_argument("--restarts", type=int, help="Redis restarts (default 3, quick 2)")
    parser.add_argument("--rate", type=float, default=20.0, help="channel.follow per second")
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--down-s", type=float, default=2.0, help="seconds Redis stays down")
    parser.add_argument("--drain-s", type=float, default=30.0, help="longest wait for delivery")
    parser.add_argument("--settle-s", type=float, default=2.0, help="wait for late duplicates")
    parser.add_argument(
        "--appendfsync",
        choices=("always", "everysec"),
        default="always",
        help="Redis AOF fsync policy (docker-compose.prod.yaml uses everysec)",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the 0-restart run")
    parser.add_argument("--log-lines", type=int, default=8, help="distinct log messages shown")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = 12.0 if args.quick else 30.0
    if args.restarts is None:
        args.restarts = 2 if args.quick else 3
    if args.clients < 1 or args.rate <= 0 or args.seconds <= 0 or args.restarts < 0:
        parser.error("--clients must be at least 1, --rate and --seconds above 0")
    return args


async def run(args: argparse.Namespace) -> int:
    # SIGTERM unwinds like Ctrl+C: the run is cancelled and every `finally` stops what it
    # started (StreamCore, redis-server, the simulator, the clients, the temporary directories).
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    results = [await scenario(args, "restarts", args.restarts)]
    if not args.no_baseline:
        results.append(await scenario(args, "baseline", 0))
    show(results, args)
    ok = passes(results[0])
    print(
        f"\n[{'PASS' if ok else 'FAIL'}] Redis restarted {args.restarts} times during a "
        f"{args.rate:g} events/s run with {args.clients} connected clients: every client "
        f"received every event exactly once, in order"
        + ("" if ok else " -- NOT held (see the rows and counters above)")
    )
    if len(results) > 1 and not passes(results[1]):
        print("[WARN] the baseline (no restart) itself lost, doubled or reordered events")
    return 0 if ok else 1


def main() -> int:
    args = parse_args()
    if shutil.which("redis-server") is None:
        print("redis-server not found (apt-get install redis-server)", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        kill_all()  # the last resort: nothing this bench started outlives it


if __name__ == "__main__":
    raise SystemExit(main())
