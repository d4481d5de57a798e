"""Webhook restart benchmark: StreamCore SIGKILLed mid-run and started again; is every event
still delivered exactly once?

    uv run python bench/webhook_restart.py            # 30 s at 20 events/s, killed at 10 s for 10 s
    uv run python bench/webhook_restart.py --short    # 14 s, killed at 4 s for 5 s (the test's)

The claim under test: with TWITCH_EVENTSUB_TRANSPORT=webhook, "restarts lose nothing": Twitch
retries every notification until it is answered 2xx, and StreamCore answers 2xx only once the
notification is durably and de-duplicatedly in Redis. Everything is a real process on loopback:
- a private redis-server with the append-only file on (`--appendonly yes --appendfsync always`),
  which is never restarted here: Redis is the durable part that outlives StreamCore;
- the Twitch simulator, in this process, POSTing signed webhooks to StreamCore's plain-http
  loopback callback (`allow_http_callbacks`), retrying a failed or unanswered POST after
  --retry-base-s, doubling up to --retry-max-s, revoking only after --failure-limit failed POSTs
  in a row (see "failure limit" below);
- one StreamCore, `python -m cli.main run` on that Redis and a SQLite store in a temporary
  directory, with the webhook transport on STREAMCORE_PUBLIC_URL=http://127.0.0.1:PORT and a
  generated webhook secret (stored encrypted, so the restarted process signs with the same one),
  authorized through its own OAuth flow against the simulator and started with POST
  /system/start;
- one /ws/events?events=alert.follow client recording every frame, reconnecting with
  ?since=<last id> whenever its socket drops (bench/faults_stack.py's Client).
`channel.follow` is fired through the simulator at --rate per second for --seconds, each with a
unique marker as the follower's name (the alerts worker turns it into alert.follow). At
--kill-at seconds StreamCore is SIGKILLed, kept down --down-s seconds, and started again on the
same port, data directory, Redis and keys (no new authorization: the token is stored). After a
drain: sent, received, lost (never received), doubled (received more than once), the
simulator's POSTs (GET /control/webhooks: attempts, 2xx, failed and so retried, dropped) and
how long the restart took. Exit status 0 when nothing was lost or doubled and every event found
an enabled subscription; the last line is the summary (`webhook restart summary: PASS ...`).

Failure limit: the simulator counts failed POSTs in a row per subscription, not per event. At
20 events/s, each retried every 0.5-2 s, a 10 s outage makes over a thousand failed POSTs in a
row, so a limit of 50 would revoke the subscription (notification_failures_exceeded) within
about 2 s of the kill, and the events of the outage would be lost with it. Twitch documents
no number; the default here (100,000) keeps the subscription, as the claim assumes. Lower it to
see the revocation: the run then fails and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from cryptography.fernet import Fernet  # noqa: E402

from bench.faults_scenario import Fired, fire, percentile  # noqa: E402
from bench.faults_stack import (  # noqa: E402
    EVENT,
    Client,
    Redis,
    free_port,
    run_to_exit,
    signals_cancel,
    spawn,
    stop,
    streamcore_environ,
    wait_for,
)
from simulator.testing import RunningSimulator, run_simulator  # noqa: E402

SUMMARY = "webhook restart summary:"


class WebhookStreamCore:
    """`streamcore run` on the webhook transport; start(), kill() and start() again with the
    same port, data directory, Redis and keys."""

    def __init__(self, workdir: Path, port: int, redis_url: str, sim: RunningSimulator) -> None:
        self.workdir = workdir
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = workdir / "streamcore.log"
        data = workdir / "data"
        data.mkdir()
        env = streamcore_environ(sim)
        env.update(
            REDIS_URL=redis_url,
            STREAMCORE_DATA_DIR=str(data),
            TWITCH_REDIRECT_URI=f"{self.base}/tokens/callback",
            TWITCH_EVENTSUB_TRANSPORT="webhook",
            STREAMCORE_PUBLIC_URL=self.base,
            STREAMCORE_LOG_LEVEL="WARNING",
            # The same key for every start: the token and the generated webhook secret are
            # stored encrypted with it.
            TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        )
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.origin = {"Origin": self.base}
        self.http = httpx.AsyncClient(base_url=self.base, timeout=10)

    def start(self) -> None:
        with self.log.open("ab") as log:
            # cwd is the temporary directory, so no .env of the checkout is read.
            self.process = spawn(
                [sys.executable, "-m", "cli.main", "run", "--port", str(self.port)],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    async def close(self) -> None:
        await self.http.aclose()
        await asyncio.to_thread(stop, self.process)

    async def serving(self) -> None:
        """Until it answers GET / (its lifespan has started: the callback is served)."""
        process = self.process
        assert process is not None

        async def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"StreamCore exited with {process.returncode}: {self.tail()}")
            return (await self.http.get("/")).status_code == 200

        await wait_for("StreamCore to answer GET /", answers, 60, 0.05)

    async def authorize_and_start(self) -> None:
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

    async def running(self, timeout_s: float = 60) -> None:
        """Webhook transport up, channel.follow enabled, the alerts worker running."""

        async def check() -> bool:
            status = await self.status()
            gateway = status["gateway"]
            follow = [s for s in status["subscriptions"] if s["type"] == "channel.follow"]
            alerts = [w for w in status["workers"] if w["name"] == "alerts"]
            return (
                gateway.get("transport") == "webhook"
                and gateway.get("state") == "connected"
                and bool(follow)
                and all(s["status"] == "enabled" for s in follow)
                and bool(alerts)
                and alerts[0]["state"] == "running"
            )

        await wait_for("webhook transport up, channel.follow enabled, alerts running", check,
                       timeout_s)  # fmt: skip

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
            for level in ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"):
                at = line.find(f" {level} ")
                if at >= 0:
                    levels[level] += 1
                    if level in ("CRITICAL", "ERROR", "WARNING"):
                        text = "".join("N" if ch.isdigit() else ch for ch in line[at:].strip())
                        messages[text[:140]] += 1
                    break
        return levels, messages


async def restart(
    server: WebhookStreamCore, kill_at: float, down_s: float, started: float
) -> dict[str, float]:
    """SIGKILL at `kill_at` s into the run, start again `down_s` later; the moments (run time)."""
    await asyncio.sleep(max(0.0, started + kill_at - time.monotonic()))
    killed = time.monotonic() - started
    server.kill()
    await asyncio.sleep(down_s)
    server.start()
    again = time.monotonic() - started
    await server.serving()
    serving = time.monotonic() - started
    await server.running()
    running = time.monotonic() - started
    return {"killed": killed, "started": again, "serving": serving, "running": running}


async def simulator_webhooks(sim: RunningSimulator) -> dict[str, Any]:
    """The webhook subscriptions' delivery records, summed. Only channel.follow is fired, so
    the others count no POSTs (challenges are not counted); a deleted subscription's record
    no longer names its type, so every record is summed."""
    async with httpx.AsyncClient(timeout=10) as client:
        listed = (await client.get(f"{sim.control_url}/webhooks")).json()["data"]
    totals: dict[str, Any] = {
        key: sum(int(entry[key]) for entry in listed)
        for key in ("attempts", "delivered", "failed", "dropped", "retries_pending")
    }
    totals["subscriptions"] = [
        str(entry["status"] or "deleted")
        for entry in listed
        if entry.get("type") in ("channel.follow", None)
    ]
    return totals


async def scenario(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="streamcore-webhook-restart-"))
    redis = Redis(workdir, "always")
    try:
        await redis.start()
        # The simulator must accept StreamCore's callback, so StreamCore's port comes first.
        port = free_port()
        main_task = asyncio.current_task()
        assert main_task is not None
        async with run_simulator(
            redirect_uri=f"http://127.0.0.1:{port}/tokens/callback",
            allow_http_callbacks=True,
            webhook_retry_base_s=args.retry_base_s,
            webhook_retry_max_s=args.retry_max_s,
            webhook_failure_limit=args.failure_limit,
        ) as sim:
            with signals_cancel(main_task):
                server = WebhookStreamCore(workdir, port, redis.url, sim)
                try:
                    server.start()
                    await server.serving()
                    await server.authorize_and_start()
                    await server.running()
                    return await exercise(args, sim, server)
                finally:
                    await server.close()
    finally:
        redis.kill()
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


async def exercise(
    args: argparse.Namespace, sim: RunningSimulator, server: WebhookStreamCore
) -> dict[str, Any]:
    client = Client(1, f"ws://127.0.0.1:{server.port}/ws/events?events={EVENT}")
    reader = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(client.connected.wait(), 15)

        async def registered() -> bool:
            return bool((await server.status())["clients"]["connected"] >= 1)

        await wait_for("the client to be registered", registered, 15)
        count = int(args.rate * args.seconds)
        print(
            f"firing {count} channel.follow at {args.rate:g}/s; StreamCore SIGKILLed at "
            f"{args.kill_at:g} s, down {args.down_s:g} s ...",
            flush=True,
        )
        started = time.monotonic()
        async with asyncio.TaskGroup() as group:
            firing = group.create_task(fire(sim, count, args.rate))
            restarting = group.create_task(restart(server, args.kill_at, args.down_s, started))
        fired, moments = firing.result(), restarting.result()
        expected = {f.marker for f in fired if f.delivered}
        drain_started = time.monotonic()
        while time.monotonic() - drain_started < args.drain_s and not expected <= {  # noqa: ASYNC110
            marker for marker, _, _ in client.frames
        }:
            await asyncio.sleep(0.1)
        drain_s = time.monotonic() - drain_started
        await asyncio.sleep(args.settle_s)  # late duplicates would show up here
        status = await server.status()
        webhooks = await simulator_webhooks(sim)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    return {
        "fired": fired,
        "moments": moments,
        "drain_s": drain_s,
        "client": client,
        "status": status,
        "webhooks": webhooks,
        "log": server.log_summary(),
        "started_wall": time.time() - (time.monotonic() - started),
    }


def figures(result: dict[str, Any]) -> dict[str, Any]:
    fired: list[Fired] = result["fired"]
    client: Client = result["client"]
    sent = {f.marker: f for f in fired if f.delivered}
    seen: Counter[str] = Counter(marker for marker, _, _ in client.frames)
    order = [sent[marker].index for marker, _, _ in client.frames if marker in sent]
    first_seen: dict[str, float] = {}
    for marker, at, _ in client.frames:
        first_seen.setdefault(marker, at)
    latencies = [first_seen[m] - f.at for m, f in sent.items() if m in first_seen]
    moments = result["moments"]
    base = result["started_wall"]
    down = [m for m, f in sent.items() if moments["killed"] <= f.at - base <= moments["serving"]]
    caught_up = max((first_seen[m] for m in down if m in first_seen), default=float("nan"))
    return {
        "fired": len(fired),
        "undelivered": len(fired) - len(sent),
        "sent": len(sent),
        "received": len(client.frames),
        "lost": sum(1 for marker in sent if marker not in seen),
        "doubled": sum(n - 1 for marker, n in seen.items() if n > 1 and marker in sent),
        "unknown": sum(n for marker, n in seen.items() if marker not in sent),
        "reordered": sum(1 for a, b in itertools.pairwise(order) if b < a),
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies, default=float("nan")),
        "during_outage": len(down),
        "caught_up_s": caught_up - base - moments["serving"],
    }


def show(result: dict[str, Any], args: argparse.Namespace) -> bool:
    row = figures(result)
    moments, hooks, status = result["moments"], result["webhooks"], result["status"]
    client: Client = result["client"]
    gateway = status["gateway"]
    alerts: dict[str, Any] = next((w for w in status["workers"] if w["name"] == "alerts"), {})
    print(
        f"\n== webhook restart: one StreamCore (webhook transport, Redis AOF appendfsync always, "
        f"SQLite), channel.follow at {args.rate:g}/s x {args.seconds:g} s, SIGKILLed at "
        f"{args.kill_at:g} s and down {args.down_s:g} s; simulator retries after "
        f"{args.retry_base_s:g} s doubling to {args.retry_max_s:g} s, failure limit "
        f"{args.failure_limit}"
    )
    print(
        f"{'sent':>6}{'received':>10}{'lost':>6}{'doubled':>9}{'reordered':>11}{'reconnects':>12}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    print(
        f"{row['sent']:>6}{row['received']:>10}{row['lost']:>6}{row['doubled']:>9}"
        f"{row['reordered']:>11}{client.reconnects:>12}{row['p50'] * 1e3:>9.0f}"
        f"{row['p99'] * 1e3:>9.0f}{row['max'] * 1e3:>9.0f}"
    )
    answering, running = (moments[k] - moments["started"] for k in ("serving", "running"))
    print(
        f"restart: SIGKILL at t={moments['killed']:.1f} s, started again at "
        f"t={moments['started']:.1f} s, answering after {answering:.1f} s, subscriptions "
        f"enabled and alerts running after {running:.1f} s; the {row['during_outage']} events "
        f"fired while it was down had all reached the client {row['caught_up_s']:.1f} s after "
        f"it answered again"
    )
    # Every notification ends answered 2xx once or dropped: the other POSTs were retries.
    retries = max(0, hooks["attempts"] - hooks["delivered"] - hooks["dropped"])
    print(
        f"simulator: {hooks['attempts']} POSTs for {row['sent']} notifications: "
        f"{hooks['delivered']} answered 2xx, {hooks['failed']} failed, {retries} retried, "
        f"{hooks['dropped']} dropped, {hooks['retries_pending']} still pending; channel.follow "
        f"subscription(s): {', '.join(hooks['subscriptions'])}"
    )
    print(
        f"StreamCore after the restart: received {gateway.get('received')}, deduplicated "
        f"{gateway.get('deduplicated')}, refused {gateway.get('refused')}, bus_unavailable "
        f"{gateway.get('bus_unavailable')}; alerts handled {alerts.get('handled')}, failed "
        f"{alerts.get('failed')}, pending {alerts.get('pending')}; drain {result['drain_s']:.1f} s"
    )
    if row["undelivered"]:
        print(f"  {row['undelivered']} events found no enabled subscription in the simulator")
    if row["unknown"]:
        print(f"  {row['unknown']} frames with an unknown marker")
    if client.closes:
        print(f"  client closes: {'; '.join(dict.fromkeys(client.closes))}"[:400])
    levels, messages = result["log"]
    print(f"  StreamCore log: {dict(levels) or 'nothing at WARNING or above'}")
    for message, times in messages.most_common(args.log_lines):
        print(f"    {times:>4} x {message}")
    ok = row["undelivered"] == 0 and row["lost"] == 0 and row["doubled"] == 0 and not row["unknown"]
    print(
        f"{SUMMARY} {'PASS' if ok else 'FAIL'} - sent {row['sent']}, received {row['received']}, "
        f"lost {row['lost']}, doubled {row['doubled']}; StreamCore SIGKILLed at "
        f"{moments['killed']:.0f} s and down {args.down_s:g} s; the simulator retried "
        f"{retries} POSTs"
        + ("" if ok else f"; {row['undelivered']} events found no enabled subscription")
    )
    return ok


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="--seconds 14 --kill-at 4 --down-s 5")
    parser.add_argument("--seconds", type=float, help="firing time (default 30, short 14)")
    parser.add_argument("--rate", type=float, default=20.0, help="channel.follow per second")
    parser.add_argument("--kill-at", type=float, help="SIGKILL after this long (10, short 4)")
    parser.add_argument("--down-s", type=float, help="seconds StreamCore stays down (10, short 5)")
    parser.add_argument("--retry-base-s", type=float, default=0.5)
    parser.add_argument("--retry-max-s", type=float, default=2.0)
    parser.add_argument("--failure-limit", type=int, default=100_000)
    parser.add_argument("--drain-s", type=float, default=30.0, help="longest wait for delivery")
    parser.add_argument("--settle-s", type=float, default=2.0, help="wait for late duplicates")
    parser.add_argument("--log-lines", type=int, default=8, help="distinct log messages shown")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    defaults = (14.0, 4.0, 5.0) if args.short else (30.0, 10.0, 10.0)
    for name, default in zip(("seconds", "kill_at", "down_s"), defaults, strict=True):
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.rate <= 0 or args.seconds <= 0 or not 0 <= args.kill_at < args.seconds:
        parser.error("--rate and --seconds must be above 0, --kill-at inside the run")
    return args


async def run(args: argparse.Namespace) -> int:
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    return 0 if show(await scenario(args), args) else 1


def main() -> int:
    args = parse_args()
    if shutil.which("redis-server") is None:
        print("redis-server not found (apt-get install redis-server)", file=sys.stderr)
        return 2
    return run_to_exit(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
