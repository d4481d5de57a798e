"""Webhook ingest benchmark (`bench/ingest.py --transport webhook`): signed EventSub webhook
notifications per second through the callback, against a same-run baseline.

    uv run python bench/ingest.py --transport webhook [--connections 10,64] [--seconds 5]
        [--rounds 2] [--senders 2] [--log-level INFO] [--redis-url redis://...]
        [--profile out.prof]

Each server is its own process, served by uvicorn (one process, uvloop and httptools, as
`streamcore run` serves) on a free loopback port, on the same Redis (a private redis-server
unless --redis-url), which is emptied before each server starts:
- streamcore: `python -m cli.main run` with TWITCH_EVENTSUB_TRANSPORT=webhook, the secret in
  TWITCH_EVENTSUB_SECRET, STREAMCORE_PUBLIC_URL on loopback and the embedded SQLite store. Every
  request takes the real path: app/webhook.py (method, Host allowlist, body size), the
  signature, replay and JSON checks of gateway/webhook.py, and gateway/webhook_intake.py's
  hand-off (`Handoff.try_deliver`: the de-duplicating Lua script, SET NX + XADD, on Redis)
  before the 204. The system is never started (no Twitch to talk to): the callback serves
  regardless, and no worker competes for the CPU. STREAMCORE_LOG_LEVEL is --log-level, INFO by
  default as in production: uvicorn then writes an access line per request (WARNING: not).
- baseline: bench/webhook_baseline.py, a bare Starlette route that checks the same HMAC and
  XADDs the raw body (no Host, staleness or JSON checks, no de-duplication, no access log).
The load comes from bench/webhook_sender.py in --senders separate processes with the given
number of keep-alive connections in all, each sending its next request when the previous is
answered; every notification has its own message id. Each level of --connections is measured
in turn (the default: 10, the simulator's POSTs in flight per callback, and 64, a burst): first
the generator's ceiling against a bare asyncio 204 sink (the same senders), so its rate shows
the client is not what limits the servers, then --rounds alternating rounds of baseline and
streamcore, the best of each kept. Reported per level and server: notifications/s answered 2xx
in the measured window, p50/p99 latency, errors (transport errors and non-2xx answers),
whether the stream grew by exactly the number of 2xx answers (answered means stored), and CPU
per notification of the server, Redis and the senders (from /proc), and how busy the server
was. Targets per level: streamcore >= 0.8x the baseline's rate, and >= 3,000 notifications/s;
exit status 0 when both hold at every level. On 2 cores the servers are CPU-bound at every
level, so the rate is the inverse of the CPU a notification costs. --profile runs StreamCore
under cProfile (much slower, and it charges the garbage collector to whichever function
allocated: for where, not how fast) and prints its top functions.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pstats
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import redis
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.webhook_sender import Requests  # noqa: E402

STREAM = "eventsub:channel.follow"
SECRET = "bench-webhook-secret-0123456789"
TARGET_RATIO = 0.8
TARGET_RATE = 3_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (its own, not its children's)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def stop(process: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


# -- the servers -------------------------------------------------------------------------------


def streamcore_env(port: int, redis_url: str, data_dir: Path, log_level: str) -> dict[str, str]:
    # Only our settings: none of the caller's StreamCore, Twitch or backend variables.
    prefixes = ("STREAMCORE_", "TWITCH_", "WS_", "EVENTS_", "EVENTSUB_", "WORKER_", "POSTGRES_")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith(prefixes)
        and name.upper() not in ("REDIS_URL", "DATABASE_URL", "TOKEN_ENCRYPTION_KEY")
    }
    env.update(
        PYTHONPATH=str(ROOT),
        TWITCH_CLIENT_ID="bench",
        TWITCH_CLIENT_SECRET="benchsecret",
        # Never called: the system is not started, so nothing talks to Twitch.
        TWITCH_API_URL="http://127.0.0.1:9/helix",
        TWITCH_AUTH_URL="http://127.0.0.1:9/oauth2",
        TWITCH_EVENTSUB_TRANSPORT="webhook",
        TWITCH_EVENTSUB_SECRET=SECRET,
        STREAMCORE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        REDIS_URL=redis_url,
        STREAMCORE_DATA_DIR=str(data_dir),
        STREAMCORE_STREAM_MAXLEN="1000000",
        STREAMCORE_LOG_LEVEL=log_level,
        TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
    )
    return env


def start_server(
    name: str, port: int, redis_url: str, workdir: Path, log_level: str, profile: Path | None
) -> subprocess.Popen[bytes]:
    log = (workdir / f"{name}.log").open("ab")
    if name == "baseline":
        command = [sys.executable, str(ROOT / "bench" / "webhook_baseline.py"), "--port",
                   str(port), "--redis-url", redis_url, "--secret", SECRET]  # fmt: skip
        return subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    data = workdir / f"data-{port}"
    data.mkdir()
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += ["-m", "cli.main", "run", "--port", str(port)]
    env = streamcore_env(port, redis_url, data, log_level)
    # cwd: the work directory, so no .env of the checkout is read.
    return subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_ready(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    """Until a signed notification is answered 204 (StreamCore answers 503 while starting)."""
    requests = Requests(port, SECRET)
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}")
            raw = requests.next()
            head, _, body = raw.partition(b"\r\n\r\n")
            headers = dict(
                line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line
            )
            headers.pop("Content-Length", None)
            with contextlib.suppress(httpx.HTTPError):
                url = f"http://127.0.0.1:{port}/eventsub/callback"
                if client.post(url, content=body, headers=headers).status_code == 204:
                    return
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer a signed notification 204 in time")


# -- the load ----------------------------------------------------------------------------------


def load(
    port: int, args: argparse.Namespace, connections: int, watched: dict[str, int]
) -> dict[str, Any]:
    """Run the senders against `port` with `connections` in all; their merged result and the
    CPU of `watched` pids over the measured window."""
    senders = min(args.senders, connections)
    per_sender = [connections // senders] * senders
    for index in range(connections % senders):
        per_sender[index] += 1
    results = [Path(args.workdir) / f"sender-{port}-{n}.json" for n in range(senders)]
    command = [sys.executable, str(ROOT / "bench" / "webhook_sender.py"), "--port", str(port),
               "--secret", SECRET, "--seconds", str(args.seconds), "--warmup",
               str(args.warmup), "--sync"]  # fmt: skip
    processes = [
        subprocess.Popen(
            [*command, "--connections", str(count), "--out", str(out)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for count, out in zip(per_sender, results, strict=True)
    ]
    try:
        for sender in processes:
            assert sender.stdout is not None
            if sender.stdout.readline().strip() != "ready":
                raise RuntimeError("a sender did not connect")
        start_at = time.time() + 0.2
        for sender in processes:
            assert sender.stdin is not None
            sender.stdin.write(f"{start_at}\n")
            sender.stdin.flush()
        pids = {**watched, **{f"sender{n}": s.pid for n, s in enumerate(processes)}}
        time.sleep(max(0.0, start_at + args.warmup - time.time()))
        before = {name: cpu_s(pid) for name, pid in pids.items()}
        time.sleep(max(0.0, start_at + args.warmup + args.seconds - time.time()))
        after = {name: cpu_s(pid) for name, pid in pids.items()}
        outputs = []
        for sender, out in zip(processes, results, strict=True):
            if sender.wait(60) != 0:
                raise RuntimeError(f"a sender exited with {sender.returncode}")
            outputs.append(json.loads(out.read_text()))
    finally:
        for sender in processes:
            if sender.poll() is None:
                sender.kill()
                sender.wait()
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    for output in outputs:
        statuses.update(output["statuses"])
        errors.update(output["errors"])
        latencies += output["latencies"]
    ok = sum(n for status, n in statuses.items() if status.startswith("2"))
    cpu = {name: after[name] - before[name] for name in pids}
    sender_cpu = sum(v for name, v in cpu.items() if name.startswith("sender"))
    return {
        "rate": ok / args.seconds,
        "ok": ok,
        "non_2xx": {s: n for s, n in statuses.items() if not s.startswith("2")},
        "errors": dict(errors),
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "answered_2xx": sum(int(o["answered_2xx"]) for o in outputs),
        "cpu": {k: v for k, v in cpu.items() if not k.startswith("sender")},
        "sender_cpu": sender_cpu,
    }


def one(
    name: str,
    args: argparse.Namespace,
    connections: int,
    redis_url: str,
    redis_pid: int | None,
    workdir: Path,
) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    port = free_port()
    profile = workdir / "streamcore.prof" if name == "streamcore" and args.profile else None
    process = start_server(name, port, redis_url, workdir, args.log_level, profile)
    try:
        wait_ready(port, process, name)
        stored_before = int(client.xlen(STREAM))
        watched = {"server": process.pid}
        if redis_pid is not None:
            watched["redis"] = redis_pid
        result = load(port, args, connections, watched)
        result["stored"] = int(client.xlen(STREAM)) - stored_before
    finally:
        stop(process)
        client.flushdb()
        client.close()
    if profile is not None:
        shutil.copy(profile, args.profile)
    return result


def sink_ceiling(args: argparse.Namespace, connections: int) -> dict[str, Any]:
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "webhook_sender.py"), "--sink", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        if sink.stdout.readline().strip() != "ready":
            raise RuntimeError("the sink did not start")
        result = load(port, args, connections, {"server": sink.pid})
    finally:
        sink.kill()
        sink.wait()
    return result


# -- the run -----------------------------------------------------------------------------------


@contextlib.contextmanager
def private_redis(workdir: Path) -> Iterator[tuple[str, int]]:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed; pass --redis-url")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0", server.pid
    finally:
        server.kill()
        server.wait()


def row(name: str, result: dict[str, Any]) -> str:
    ok = result["ok"]
    errors = sum(result["errors"].values()) + sum(result["non_2xx"].values())
    stored = "-" if "stored" not in result else (
        "yes" if result["stored"] == result["answered_2xx"] else
        f"NO {result['stored']}/{result['answered_2xx']}"
    )  # fmt: skip
    per = {k: f"{v / ok * 1e6:.0f}" if ok else "-" for k, v in result["cpu"].items()}
    senders = f"{result['sender_cpu'] / ok * 1e6:.0f}" if ok else "-"
    server_share = result["cpu"]["server"] / result["seconds"] * 100
    return (
        f"{name:<12}{result['rate']:>9.0f}{result['p50'] * 1e3:>8.1f}{result['p99'] * 1e3:>8.1f}"
        f"{errors:>7} {stored:>7}{per['server']:>10}{server_share:>7.0f}%"
        f"{per.get('redis', '-'):>9}{senders:>9}"
    )


def run(args: argparse.Namespace) -> int:
    levels = [int(n) for n in str(args.connections).split(",")]
    # Per level: the sink's result, and each server's rounds.
    results: dict[int, dict[str, list[dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory(prefix="streamcore-webhook-ingest-") as tmp:
        workdir = args.workdir = Path(tmp)
        with contextlib.ExitStack() as stack:
            if args.redis_url is None:
                redis_url, redis_pid = stack.enter_context(private_redis(workdir))
            else:
                redis_url, redis_pid = args.redis_url, None
            for connections in levels:
                runs = results[connections] = {"sink (gen)": [], "baseline": [], "streamcore": []}
                runs["sink (gen)"].append(sink_ceiling(args, connections))
                for round_ in range(args.rounds):
                    for name in ("baseline", "streamcore"):
                        result = one(name, args, connections, redis_url, redis_pid, workdir)
                        runs[name].append(result)
                        print(
                            f"[{connections} connections, round {round_ + 1}] {name}: "
                            f"{result['rate']:.0f}/s",
                            flush=True,
                        )
    print(
        f"\n== webhook ingest: signed POST /eventsub/callback -> durable append on Redis; "
        f"uvicorn, 1 process each; {args.senders} sender processes; {args.seconds:g} s measured "
        f"after {args.warmup:g} s warm-up, best of {args.rounds} round(s); StreamCore log level "
        f"{args.log_level}"
    )
    print(
        f"{'conns':>5} {'server':<12}{'notif/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}"
        f"{'stored':>8}{'CPU us/n':>10}{'busy':>8}{'redis us':>9}{'gen us':>9}"
    )
    verdicts = []
    for connections, runs in results.items():
        best = {name: max(rounds, key=lambda r: r["rate"]) for name, rounds in runs.items()}
        for name, result in best.items():
            result["seconds"] = args.seconds
            print(f"{connections:>5} {row(name, result)}")
            for problem, count in {**result["non_2xx"], **result["errors"]}.items():
                print(f"        {name}: {count} x {problem}")
        rate, ceiling = best["streamcore"]["rate"], best["sink (gen)"]["rate"]
        ratio = rate / best["baseline"]["rate"]
        generator_ok = ceiling > 1.2 * max(best["baseline"]["rate"], rate)
        stored_ok = all(
            best[n]["stored"] == best[n]["answered_2xx"] for n in ("baseline", "streamcore")
        )
        ratio_ok, rate_ok = ratio >= TARGET_RATIO, rate >= TARGET_RATE
        verdicts.append(ratio_ok and rate_ok and stored_ok and generator_ok)
        print(
            f"  {connections} connections: streamcore / baseline = {ratio:.2f}x (target >= "
            f"{TARGET_RATIO}): {'OK' if ratio_ok else 'MISSED'}; streamcore {rate:.0f} "
            f"notifications/s (target >= {TARGET_RATE:,}): {'OK' if rate_ok else 'MISSED'}; "
            f"generator ceiling {ceiling:.0f}/s: "
            f"{'not the limit' if generator_ok else 'MAY BE THE LIMIT'}"
            + ("" if stored_ok else "; answered 2xx != stored (an answer without its entry)")
        )
    if args.profile:
        show_profile(Path(args.profile))
    return 0 if all(verdicts) else 1


def show_profile(path: Path, lines: int = 30) -> None:
    out = io.StringIO()
    stats = pstats.Stats(str(path), stream=out)
    stats.sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(r"webhook|handoff|bus/redis|redis/|starlette", lines)
    print(f"\n== cProfile of StreamCore ({path})\n{out.getvalue()}")


def add_arguments(parser: argparse._ActionsContainer) -> None:
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=1.0, help="load before the window")
    parser.add_argument("--senders", type=int, default=2, help="generator processes")
    parser.add_argument(
        "--connections",
        default="10,64",
        help="keep-alive connections in all senders; a comma-separated list runs each level "
        "(default 10,64: the simulator's concurrency per callback, and a burst)",
    )
    parser.add_argument(
        "--log-level", default="INFO", help="StreamCore's STREAMCORE_LOG_LEVEL (default INFO)"
    )
    parser.add_argument("--profile", default=None, help="cProfile StreamCore into this file")
