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

This module holds the command line, the two scenarios' sequence and the report; the run itself
is in bench/faults_scenario.py, the processes it starts in bench/faults_stack.py.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.faults_scenario import scenario  # noqa: E402
from bench.faults_stack import EVENT, run_to_exit  # noqa: E402

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
    return run_to_exit(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
