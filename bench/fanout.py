"""Fan-out benchmark: StreamCore's `WS /ws/events` against two baselines, on real Redis.

    uv run python bench/fanout.py --mode quick      # about 1-2 minutes
    uv run python bench/fanout.py --mode full       # about 5 minutes (the issue's targets)

Everything runs on loopback: a private redis-server on a free port (or --redis-url), each server
under test as its own process (StreamCore as `streamcore run` serves it), the WebSocket clients
in another process (bench/bench_client.py), and the publisher here. The clients offer
permessage-deflate as browsers do (--no-deflate-offer: they do not); the `pmd` column says
whether a server accepted it. --ws-compression runs StreamCore with WS_COMPRESSION=true.
Per scenario and server it reports deliveries/s, p50/p99 latency (publish -> client receive),
lost and out-of-order events (reading clients only), server CPU time per delivery, server RSS
(idle, per connected client, growth during the run) and, for slow clients, how they were
disconnected. Then ratios against the baselines and the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_client import open_client  # noqa: E402

TARGETS = ("streamcore", "websockets", "naive")
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Scenario:
    name: str
    clients: int
    rate: int
    seconds: float
    payload: int
    slow: int = 0
    targets: tuple[str, ...] = TARGETS


def scenarios(mode: str) -> list[Scenario]:
    if mode == "quick":
        return [
            Scenario("100x100", 100, 100, 3, 300),
            Scenario("1000x100", 1000, 100, 3, 300),
            Scenario("4k-noslow", 90, 100, 5, 4096, targets=("streamcore",)),
            Scenario("4k-slow", 100, 100, 5, 4096, slow=10, targets=("streamcore", "websockets")),
        ]
    return [
        Scenario("100x100", 100, 100, 10, 300),
        Scenario("1000x100", 1000, 100, 10, 300),
        Scenario("4k-noslow", 90, 100, 20, 4096, targets=("streamcore",)),
        Scenario("4k-slow", 100, 100, 20, 4096, slow=10),
    ]


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def start_server(
    target: str, port: int, redis_url: str, workdir: str, ws_compression: bool = False
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BENCH_REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)}
    uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)]
    uvicorn += ["--log-level", "warning", "--no-access-log"]
    if target == "streamcore":
        env.update(REDIS_URL=redis_url, STREAMCORE_DATA_DIR=workdir, STREAMCORE_LOG_LEVEL="WARNING")
        env.update(WS_COMPRESSION=str(ws_compression).lower())
        # The shipped entry point (Dockerfile, systemd), with the uvicorn options it sets.
        command = [sys.executable, "-m", "cli.main", "run", "--host", "127.0.0.1"]
        command += ["--port", str(port)]
    elif target == "naive":
        command = [*uvicorn, "bench.baselines.naive_fastapi:app"]
    else:
        script = str(ROOT / "bench" / "baselines" / "websockets_broadcast.py")
        command = [sys.executable, script, str(port), redis_url]
    process = subprocess.Popen(command, cwd=ROOT, env=env, preexec_fn=raise_fd_limit)
    wait_port(port)
    time.sleep(0.5)  # let the Redis subscription settle
    return process


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.1):
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except OSError:
                return


# -- client process ----------------------------------------------------------------------------


def client_process(
    port: int, normal: int, slow: int, slow_rate: float, offer: bool, pipe: Any
) -> None:
    raise_fd_limit()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_clients(port, normal, slow, slow_rate, offer, pipe))


async def _clients(
    port: int, normal: int, slow: int, slow_rate: float, offer: bool, pipe: Any
) -> None:
    readers = []
    for start in range(0, normal, 100):
        count = min(100, normal - start)
        batch = [open_client(port, "/ws/events", offer_deflate=offer) for _ in range(count)]
        readers += await asyncio.gather(*batch)
    slowpokes = [await open_client(port, "/ws/events", slow_rate, offer) for _ in range(slow)]
    pipe.send("ready")
    loop = asyncio.get_running_loop()
    expected = await loop.run_in_executor(None, pipe.recv)
    deadline = loop.time() + 10
    while loop.time() < deadline and any(c.stats.received < expected for c in readers):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    # Let the slow clients read on until the server's close frame reaches them (or EOF).
    deadline = loop.time() + 15
    while loop.time() < deadline and not all(c.stats.closed for c in slowpokes):  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    latencies = sorted(x for c in readers for x in c.stats.latencies)

    def percentile(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else 0.0

    pipe.send(
        {
            "received": sum(c.stats.received for c in readers),
            "last_at": max((c.stats.last_at for c in readers), default=0.0),
            "lost": sum(max(0, expected - c.stats.received) for c in readers),
            "out_of_order": sum(c.stats.out_of_order for c in readers),
            "p50": percentile(0.50),
            "p99": percentile(0.99),
            "slow_received": sum(c.stats.received for c in slowpokes),
            "slow_closed": sum(c.stats.closed for c in slowpokes),
            "slow_codes": sorted({str(c.stats.close_code) for c in slowpokes if c.stats.closed}),
            "deflate": sum(c.stats.deflate for c in (*readers, *slowpokes)),
        }
    )
    for client in (*readers, *slowpokes):
        if client.transport is not None:
            client.transport.abort()


# -- one run -------------------------------------------------------------------------------------


async def publish(redis_url: str, scenario: Scenario) -> float:
    from bus.redis import RedisBus
    from events.publisher import EventPublisher

    bus = RedisBus(redis_url)
    await bus.connect()
    publisher = EventPublisher(bus, retention=1000)
    count = int(scenario.rate * scenario.seconds)
    pad = "x" * max(0, scenario.payload - 110)
    loop = asyncio.get_running_loop()
    start = loop.time()
    first_publish = time.time()
    for n in range(count):
        delay = start + n / scenario.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await publisher.publish("bench.tick", {"n": n, "t": time.time(), "pad": pad})
    await bus.close()
    return first_publish


def run_one(
    scenario: Scenario, target: str, redis_url: str, workdir: str, options: argparse.Namespace
) -> dict[str, Any]:
    port = free_port()
    server = start_server(target, port, redis_url, workdir, options.ws_compression)
    try:
        rss_idle = rss_bytes(server.pid)
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        normal = scenario.clients - scenario.slow
        slow_rate = scenario.payload * scenario.rate / 10  # a tenth of the stream's byte rate
        clients = context.Process(
            target=client_process,
            args=(port, normal, scenario.slow, slow_rate, not options.no_deflate_offer, child),
        )
        clients.start()
        if not parent.poll(120) or parent.recv() != "ready":
            raise RuntimeError("clients did not connect in time")
        time.sleep(1.0)
        rss_connected = rss_bytes(server.pid)
        sampler = RssSampler(server.pid)
        sampler.start()
        cpu_before = cpu_seconds(server.pid)
        wall = time.monotonic()
        first_publish = asyncio.run(publish(redis_url, scenario))
        count = int(scenario.rate * scenario.seconds)
        parent.send(count)
        if not parent.poll(60):
            raise RuntimeError("clients did not report in time")
        result: dict[str, Any] = parent.recv()
        wall = time.monotonic() - wall
        cpu = cpu_seconds(server.pid) - cpu_before
        sampler.stop.set()
        clients.join(10)
        deliveries = result["received"] + result["slow_received"]
        result.update(
            target=target,
            # Over the time from the first publish to the last delivery: a server that falls
            # behind shows a lower rate than the publish rate.
            deliveries_per_s=result["received"]
            / max(scenario.seconds, result["last_at"] - first_publish),
            cpu_us_per_delivery=cpu / deliveries * 1e6 if deliveries else float("nan"),
            rss_idle_mb=rss_idle / 2**20,
            rss_per_client_kb=(rss_connected - rss_idle) / scenario.clients / 1024,
            rss_growth_mb=max(0, sampler.peak - rss_connected) / 2**20,
            wall_s=wall,
        )
        return result
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()


# -- report (deliveries/s counts the reading clients only) ------------------------------------


def show(scenario: Scenario, rows: list[dict[str, Any]]) -> None:
    print(
        f"\n== {scenario.name}: {scenario.clients} clients ({scenario.slow} slow), "
        f"{scenario.rate} events/s x {scenario.seconds:g}s, ~{scenario.payload} B"
    )
    print(
        f"{'server':<11}{'deliv/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'lost':>7}{'ooo':>6}"
        f"{'cpu us/d':>10}{'idle MB':>9}{'KB/cli':>8}{'grow MB':>9}{'pmd':>5}  slow clients"
    )
    for row in rows:
        slow = (
            f"{row['slow_closed']}/{scenario.slow} closed, codes {','.join(row['slow_codes'])}"
            if scenario.slow
            else "-"
        )
        print(
            f"{row['target']:<11}{row['deliveries_per_s']:>10.0f}{row['p50'] * 1e3:>9.2f}"
            f"{row['p99'] * 1e3:>9.2f}{row['lost']:>7}{row['out_of_order']:>6}"
            f"{row['cpu_us_per_delivery']:>10.2f}{row['rss_idle_mb']:>9.1f}"
            f"{row['rss_per_client_kb']:>8.1f}{row['rss_growth_mb']:>9.1f}"
            f"{'yes' if row['deflate'] else 'no':>5}  {slow}"
        )
    ours = next((r for r in rows if r["target"] == "streamcore"), None)
    for row in rows:
        if ours is None or row is ours or not row["deliveries_per_s"]:
            continue
        deliveries = ours["deliveries_per_s"] / row["deliveries_per_s"]
        cpu = ours["cpu_us_per_delivery"] / row["cpu_us_per_delivery"]
        p99 = ours["p99"] / row["p99"] if row["p99"] else float("nan")
        print(
            f"  streamcore / {row['target']}: deliveries x{deliveries:.2f}, "
            f"cpu/delivery x{cpu:.2f}, p99 x{p99:.2f}"
        )


def check_targets(results: dict[str, list[dict[str, Any]]]) -> None:
    def ours(name: str) -> dict[str, Any] | None:
        return next((r for r in results.get(name, []) if r["target"] == "streamcore"), None)

    def theirs(name: str, target: str) -> dict[str, Any] | None:
        return next((r for r in results.get(name, []) if r["target"] == target), None)

    checks: list[tuple[str, bool]] = []
    small = ours("100x100")
    if small:
        checks.append(("100x100: nothing lost", small["lost"] == 0))
        checks.append((f"100x100: p99 {small['p99'] * 1e3:.2f} ms <= 10 ms", small["p99"] <= 0.010))
    big, ws = ours("1000x100"), theirs("1000x100", "websockets")
    if big:
        if ws:
            checks.append(
                (
                    f"1000x100: deliveries/s {big['deliveries_per_s']:.0f} >= websockets "
                    f"{ws['deliveries_per_s']:.0f}",
                    big["deliveries_per_s"] >= ws["deliveries_per_s"] * 0.99,
                )
            )
        cpu = big["cpu_us_per_delivery"]
        checks.append((f"1000x100: cpu {cpu:.2f} us/delivery <= 12", cpu <= 12))
        rss = big["rss_per_client_kb"]
        checks.append((f"1000x100: {rss:.1f} KB RSS per client <= 15", rss <= 15))
    slow, calm = ours("4k-slow"), ours("4k-noslow")
    if slow:
        checks.append(("4k-slow: reading clients lose nothing", slow["lost"] == 0))
        if calm:
            ratio = slow["p99"] / calm["p99"] if calm["p99"] else float("inf")
            checks.append((f"4k-slow: p99 x{ratio:.2f} of no-slow run <= 1.5", ratio <= 1.5))
        checks.append(("4k-slow: slow clients closed with 4008", slow["slow_codes"] == ["4008"]))
        cap_mb = 1.0  # WS_CLIENT_BUFFER_BYTES default
        checks.append(
            (
                f"4k-slow: RSS growth {slow['rss_growth_mb']:.1f} MB <= 10 x cap",
                slow["rss_growth_mb"] <= 10 * cap_mb,
            )
        )
    print("\n== targets")
    for text, ok in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("quick", "full"), default="quick")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--redis-url", help="use this Redis instead of a private redis-server")
    parser.add_argument("--no-deflate-offer", action="store_true", help="offer no compression")
    parser.add_argument("--ws-compression", action="store_true", help="StreamCore accepts it")
    args = parser.parse_args()
    raise_fd_limit()
    wanted = set(args.targets.split(","))
    only = set(filter(None, args.only.split(",")))
    redis_process = None
    with tempfile.TemporaryDirectory() as workdir:
        redis_url = args.redis_url
        if not redis_url:
            if not shutil.which("redis-server"):
                print("redis-server not found; pass --redis-url redis://127.0.0.1:6379/N")
                return 2
            port = free_port()
            redis_process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    workdir,
                ],
                stdout=subprocess.DEVNULL,
            )
            wait_port(port)
            redis_url = f"redis://127.0.0.1:{port}/0"
        try:
            results: dict[str, list[dict[str, Any]]] = {}
            for scenario in scenarios(args.mode):
                if only and scenario.name not in only:
                    continue
                rows = [
                    run_one(scenario, target, redis_url, workdir, args)
                    for target in scenario.targets
                    if target in wanted
                ]
                results[scenario.name] = rows
                show(scenario, rows)
            check_targets(results)
        finally:
            if redis_process is not None:
                redis_process.terminate()
                redis_process.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
