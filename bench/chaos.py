"""Chaos benchmark: StreamCore replicas SIGKILLed at random under load; what do clients get?

    uv run python bench/chaos.py                 # 3 replicas, 50 events/s x 120 s, a kill every
                                                 # 15 s, then the 1-replica baseline (~5 min)
    uv run python bench/chaos.py --short         # 30 s, 20 events/s, a kill every 10 s (CI)
    uv run python bench/chaos.py --transport websocket,conduit,conduit-webhook
    uv run python bench/chaos.py --pause-redis 0  # no Redis pause (on by default: 20 s)

Everything is a real process on loopback, as docker-compose.prod.yaml runs it: a private
redis-server (append-only file on), a fresh schema in the PostgreSQL at 127.0.0.1:5432 (db
`test`, or POSTGRES_TEST_DSN), the Twitch simulator (in this process), --replicas `streamcore
run` processes (STREAMCORE_REPLICA_ID r1..rN, each on its own port) and Debian's nginx in front
of them with the shipped deploy/nginx.conf (rewritten for this machine as
tests/deploy/nginx_config.py does). StreamCore is authorized through its own OAuth flow
against the simulator and started with POST /system/start (cluster-wide).

Load: --rate events/s for --seconds of a mix of channel.follow, channel.subscribe,
channel.cheer, channel.raid, channel.subscription.message and channel.subscription.gift, each
with a unique marker that the alerts worker puts into its alert's `data.user.name`.
Chaos: every --kill-every s one random replica gets SIGKILL and is started again at once (same
id, same port; --coordinator-first, on with --short, aims the first kill at the coordinator).
Clients: one /ws/events client on each replica (reconnecting to the same replica when it is
back, with ?since=<last id>) and one through nginx (reconnecting through nginx with ?since=).

Per transport and client: sent, received, lost (split into inside the announced
`system.gateway` gaps, compared with each event's trigger time, and outside them), doubled,
latency; for the coordinator's kills the takeover time (status poll: another replica reports
is_coordinator with a subscribed gateway; client: the first `system.gateway` connected /
subscribed after the kill) as p50 and max; and "two sessions at once" from the simulator's
GET /control/sessions (more than one session with enabled subscriptions, each subscribed for
longer than --settle-overlap-s). Then the same run with one replica and no kills as the
same-run baseline. Exit status 0 when the targets hold for every transport run: 0 doubled at
every client, 0 lost outside announced gaps (conduit-webhook: 0 lost at all), never two
sessions at once after settling (websocket), no notification dropped by the simulator once
the firing began (conduit: the start-up probes may find no shard enabled yet; shown apart).

Redis pause (--pause-redis S, default 20 in full mode, 0 = off, off with --short unless given):
in the middle of the run, half-way between two kill moments, the private redis-server gets
SIGSTOP for S s, then SIGCONT; no kill from lease + 1 s before it to 5 s after it. From 2 s
before it to the end of the run every replica's GET /system/status is polled every 100 ms
(bench/chaos_pause.py). Reported per transport: for the events fired from 1 s before SIGSTOP
to the end of the settling (--pause-settle-s after SIGCONT, default lease + 1 s) lost, in /
outside the announced gaps and doubled per client; the moments two replicas reported
`cluster.is_coordinator: true` at once, two replicas listed the same shard in
`gateway.shards` (conduit) and the simulator listed two sessions with enabled subscriptions
(websocket), each before / during the pause / settling / after; the coordinator back after
SIGCONT. Its targets: none of those doubles after the settling, no event around it doubled;
the conduit transport's losses around the pause (and the simulator's drops while no shard can
be held) are reported, not counted against the run; the WebSocket transport's must be in gaps.

The run itself is in bench/chaos_scenario.py, the processes in bench/chaos_stack.py, the
clients and the session watch in bench/chaos_clients.py, the Redis pause in
bench/chaos_pause.py.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chaos_pause import pause_failures, pause_summary, plan_pause, show_pause  # noqa: E402
from bench.chaos_scenario import LATE_S, MIX, Kill, scenario  # noqa: E402
from bench.chaos_stack import (  # noqa: E402
    NGINX_PATH,
    POSTGRES_DSN,
    TRANSPORTS,
    is_conduit,
    transport_settings,
)
from bench.faults_scenario import percentile  # noqa: E402
from bench.faults_stack import run_to_exit  # noqa: E402

# -- report ------------------------------------------------------------------------------------


def failures(result: dict[str, Any]) -> list[str]:
    """Why the run misses its targets (none: it passes)."""
    reasons = []
    pause = result.get("pause")
    # The conduit transport's losses around a Redis pause are reported, not held against it.
    tolerated = pause if pause is not None and is_conduit(result["transport"]) else None
    for row in result["rows"]:
        if row.doubled:
            reasons.append(f"{row.client} doubled {row.doubled}")
        outside = [f for f in row.lost_outside if tolerated is None or not tolerated.covers(f)]
        if outside:
            reasons.append(f"{row.client} lost {len(outside)} outside the gaps")
        elif row.lost_in_gaps and result["transport"] == "conduit-webhook" and pause is None:
            reasons.append(f"{row.client} lost {row.lost_in_gaps} (webhook shards lose nothing)")
    if result["transport"] == "websocket" and result["watch"].settled_overlaps:
        reasons.append(f"two sessions at once {len(result['watch'].settled_overlaps)} time(s)")
    conduits = result.get("conduits")
    dropped = ((conduits or {}).get("dropped") or 0) - (result.get("dropped_before_firing") or 0)
    if tolerated is not None and tolerated.dropped_in_window is not None:
        dropped -= tolerated.dropped_in_window
    if dropped:
        reasons.append(f"the simulator dropped {dropped} conduit notification(s)")
    return reasons + pause_failures(result)


def passes(result: dict[str, Any]) -> bool:
    return not failures(result)


def takeovers(kills: list[Kill]) -> dict[str, list[float]]:
    hits = [k for k in kills if k.hit_coordinator]
    return {
        "client": [k.subscribed_s for k in hits if k.subscribed_s is not None],
        "status": [k.takeover_s for k in hits if k.takeover_s is not None],
        "shards": [k.shard_takeover_s for k in kills if k.shard_takeover_s is not None],
    }


def takeover_figure(transport: str, kills: list[Kill]) -> str:
    """The summary's takeover: the coordinator's session (websocket), the dead replica's
    shards (conduit), none to take over (conduit-webhook: the proxy routes around)."""
    times = takeovers(kills)
    if transport == "conduit":
        missed = sum(1 for k in kills if k.shards and k.shard_takeover_s is None)
        return f"of shards {p50_max(times['shards'])}" + (f" ({missed} never)" if missed else "")
    if transport == "conduit-webhook":
        return "none needed"
    return p50_max(times["client"])


def p50_max(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"p50 {percentile(values, 0.5):.2f} s, max {max(values):.2f} s"


def show_table(results: list[dict[str, Any]]) -> None:
    print(
        f"{'run':<9}{'repl':>5}{'client':>7}{'sent':>7}{'recv':>7}{'lost':>6}{'in gap':>7}"
        f"{'outside':>8}{'doubled':>8}{'conn':>5}{'late':>6}{'p50 ms':>8}{'p99 ms':>9}"
        f"{'max ms':>9}"
    )
    for result in results:
        for row in result["rows"]:
            print(
                f"{result['label']:<9}{result['replicas']:>5}{row.client:>7}{row.sent:>7}"
                f"{row.received:>7}{row.lost:>6}{row.lost_in_gaps:>7}{len(row.lost_outside):>8}"
                f"{row.doubled:>8}{row.connects:>5}{row.late:>6}{row.latency(0.5) * 1e3:>8.0f}"
                f"{row.latency(0.99) * 1e3:>9.0f}{max(row.latencies, default=0) * 1e3:>9.0f}"
            )


def show_legend() -> None:
    print(
        "(recv: alert frames received, copies included; in gap / outside: lost events fired "
        "inside / outside an announced gap; conn: sockets opened; late: first copy more than "
        f"{LATE_S:g} s after the trigger; latency: trigger -> first copy)"
    )


def show_details(result: dict[str, Any], args: argparse.Namespace) -> None:
    fired = result["fired"]
    start = fired[0].before if fired else 0.0
    undelivered = [f for f in fired if not f.delivered]
    print(f"\n[{result['label']}] fired {len(fired)} in {result['fire_s']:.1f} s "
          f"({len(undelivered)} found no enabled subscription in the simulator); drain "
          f"{result['drain_s']:.1f} s")  # fmt: skip
    for kill in result["kills"]:
        parts = [f"restart -> serving {fmt_s(kill.serving_s)}"]
        if kill.hit_coordinator and result["transport"] == "websocket":
            by = kill.new_coordinator or "?"
            by += " (its own restart)" if by == kill.victim else ""
            parts.append(f"takeover by {by}: status {fmt_s(kill.takeover_s)}")
            parts.append(f"client sees connected/subscribed {fmt_s(kill.subscribed_s)}")
        role = "coordinator" if kill.hit_coordinator else f"coordinator was {kill.coordinator}"
        print(f"  t={kill.offset:5.1f}s SIGKILL {kill.victim} ({role}): {', '.join(parts)}")
    if result["kills"]:
        times = takeovers(result["kills"])
        hits = sum(1 for k in result["kills"] if k.hit_coordinator)
        print(f"  takeover over {hits} coordinator kill(s): client sees connected/subscribed "
              f"{p50_max(times['client'])}; status poll {p50_max(times['status'])}")  # fmt: skip
        with_shards = [k for k in result["kills"] if k.shards]
        if with_shards:
            print(f"  shard takeover over {len(with_shards)} kill(s) of a replica holding "
                  f"shards: every shard subscribed again {p50_max(times['shards'])}")  # fmt: skip
    gaps = result["gaps"]
    total = sum(until - since for since, until in gaps)
    print(f"  gaps announced: {len(gaps)}, {total:.1f} s in all"
          + "".join(f"; t={s - start:.1f}..{u - start:.1f}s" for s, u in gaps[:8]))  # fmt: skip
    outside = [f for f in undelivered if not any(s <= f.after and f.before <= u for s, u in gaps)]
    print(f"  undelivered by the simulator: {len(undelivered)}, {len(outside)} outside the gaps")
    conduits = result.get("conduits")
    if conduits is not None:
        print(f"  simulator conduits: {conduits['count']}, shards {conduits['shards']}, "
              f"dropped (no shard could take them) {conduits['dropped']}, of which "
              f"{result.get('dropped_before_firing')} before the firing began (probes during "
              f"the start-up; not held against the run)")  # fmt: skip
    watch = result["watch"]
    if result["transport"] == "websocket":
        print(f"  sessions: {watch.samples} polls, most subscribed at once {watch.most_at_once}, "
              f"{watch.overlaps} polls with two (takeover overlap included), "
              f"{len(watch.settled_overlaps)} after settling "
              f"{args.settle_overlap_s:g} s")  # fmt: skip
        for at, sessions in watch.settled_overlaps[:3]:
            print(f"    t={at - start:.1f}s two sessions at once: {', '.join(sessions)}")
    for replica_id, exits in result["exits"].items():
        for started, code, line in exits:
            print(f"  {replica_id} exited by itself with {code} (started t={started - start:.1f}s):"
                  f" {line[:160]}")  # fmt: skip
    for row in result["rows"]:
        extra = []
        if row.lost_outside:
            shown = ", ".join(
                f"{f.marker} {f.sub_type} t={f.before - start:.2f}s{nearest(f, gaps)}"
                for f in row.lost_outside[:4]
            )
            extra.append(f"lost outside gaps: {shown}")
        if row.unknown:
            extra.append(f"{row.unknown} frames with an unknown marker")
        if row.closes:
            extra.append(f"{len(row.closes)} closes, last: {row.closes[-1]}")
        if row.refused:
            extra.append(f"{row.refused} connection attempts failed")
        if extra:
            print(f"  client {row.client}: {'; '.join(extra)}")
    status = result["status"]
    cluster = status.get("cluster") or {}
    print(f"  at the end: coordinator {(cluster.get('coordinator') or {}).get('replica_id')}, "
          f"fencing token {(cluster.get('coordinator') or {}).get('fencing_token')}, "
          f"gateway {(status.get('gateway') or {}).get('state')}")  # fmt: skip
    levels, messages = result["log"]
    print(f"  StreamCore logs: {dict(levels) or 'nothing'}")
    for message, times in messages.most_common(args.log_lines):
        print(f"    {times:>4} x {message}")


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def nearest(fired: Any, gaps: list[tuple[float, float]]) -> str:
    if not gaps:
        return ""
    distance = min(
        min(abs(fired.before - until), abs(since - fired.after)) for since, until in gaps
    )
    return f" ({distance:.2f} s from a gap)"


def summary(transport: str, result: dict[str, Any]) -> str:
    rows, kills = result["rows"], result["kills"]
    reasons = failures(result)
    verdict = "PASS" if not reasons else f"FAIL ({'; '.join(reasons)})"
    overlaps = len(result["watch"].settled_overlaps) if transport == "websocket" else "n/a"
    return (
        f"chaos summary: {transport} {verdict} - {result['replicas']} replicas, {len(kills)} "
        f"kills ({sum(k.hit_coordinator for k in kills)} of the coordinator), takeover "
        f"{takeover_figure(transport, kills)}; lost in gaps "
        f"{max(r.lost_in_gaps for r in rows)}, outside {max(len(r.lost_outside) for r in rows)}, "
        f"doubled {max(r.doubled for r in rows)} "
        f"(worst client); two sessions at once {overlaps}{pause_summary(result)}"
    )


# -- command line ------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--short", action="store_true", help="30 s, 20/s, a kill every 10 s")
    parser.add_argument("--seconds", type=float, help="firing time (default 120, short 30)")
    parser.add_argument("--rate", type=float, help="events per second (default 50, short 20)")
    parser.add_argument("--kill-every", type=float, help="seconds (default 15, short 10)")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--lease-s", type=float, default=5.0, help="STREAMCORE_LEASE_S")
    parser.add_argument(
        "--transport",
        default="websocket",
        help="comma-separated: websocket, conduit, conduit-webhook (conduit with webhook shards)",
    )
    parser.add_argument("--seed", type=int, help="victim choice (default: random, printed)")
    parser.add_argument(
        "--coordinator-first", action="store_true", help="aim the first kill at the coordinator"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the 1-replica run")
    parser.add_argument("--drain-s", type=float, default=60.0, help="longest wait for delivery")
    parser.add_argument("--settle-s", type=float, default=2.0, help="wait for late duplicates")
    parser.add_argument("--settle-overlap-s", type=float, default=2.0)
    parser.add_argument(
        "--pause-redis",
        type=float,
        metavar="S",
        help="SIGSTOP the private redis-server for S s mid-run (default 20, short 0; 0: off)",
    )
    parser.add_argument(
        "--pause-settle-s",
        type=float,
        help="after SIGCONT, how long the leases may settle before two claims at once count "
        "against the run (default: lease + 1 s)",
    )
    parser.add_argument("--log-lines", type=int, default=8, help="distinct log messages shown")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories")
    args = parser.parse_args()
    short = args.short
    args.seconds = args.seconds or (30.0 if short else 120.0)
    args.rate = args.rate or (20.0 if short else 50.0)
    args.kill_every = args.kill_every or (10.0 if short else 15.0)
    args.coordinator_first = args.coordinator_first or short
    args.seed = random.randrange(1 << 30) if args.seed is None else args.seed
    args.transports = [t.strip() for t in args.transport.split(",") if t.strip()]
    if any(t not in TRANSPORTS for t in args.transports) or not args.transports:
        parser.error(f"--transport takes {', '.join(TRANSPORTS)}")
    if args.replicas < 2 or args.rate <= 0 or args.seconds <= 0 or args.kill_every <= 0:
        parser.error("--replicas must be at least 2, --rate, --seconds, --kill-every above 0")
    if args.pause_redis is None:
        args.pause_redis = 0.0 if short else 20.0
    if args.pause_settle_s is None:
        args.pause_settle_s = args.lease_s + 1.0
    if args.pause_redis < 0 or args.pause_settle_s < 0:
        parser.error("--pause-redis and --pause-settle-s take 0 or more")
    try:
        plan_pause(
            args.seconds, args.kill_every, args.pause_redis, args.lease_s, args.pause_settle_s
        )
    except ValueError as error:
        parser.error(str(error))
    return args


def transport_available(transport: str) -> str | None:
    """None when the settings accept TWITCH_EVENTSUB_TRANSPORT=`transport`, else why not."""
    from pydantic import ValidationError

    from core.settings import Settings

    chosen = transport_settings(transport, "http://127.0.0.1:8080")
    given: dict[str, Any] = {
        "_env_file": None,
        "twitch_client_secret": "bench",
        **{name.lower(): value for name, value in chosen.items()},
    }
    try:
        Settings(**given)
    except ValidationError as error:
        return str(error.errors()[0].get("msg"))
    return None


async def run(args: argparse.Namespace) -> int:
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    mix = ", ".join(sub_type for sub_type, *_ in MIX)
    print(f"chaos: seed {args.seed}, lease {args.lease_s:g} s, mix {mix}", flush=True)
    verdicts: list[tuple[str, dict[str, Any]]] = []
    for transport in args.transports:
        why = transport_available(transport)
        if why is not None:
            print(f"{transport}: not available ({why})")
            continue
        results = [await scenario(args, "chaos", args.replicas, transport, True)]
        if not args.no_baseline:
            results.append(await scenario(args, "baseline", 1, transport, False))
        pause = f", Redis paused {args.pause_redis:g} s mid-run" if args.pause_redis else ""
        print(
            f"\n== chaos: {transport}, {args.replicas} replicas behind nginx, {args.rate:g} "
            f"events/s x {args.seconds:g} s, SIGKILL every {args.kill_every:g} s{pause} "
            f"(baseline: 1 replica, no kills)"
        )
        show_table(results)
        show_legend()
        for result in results:
            show_pause(result)
        for result in results:
            show_details(result, args)
        if len(results) > 1 and not passes(results[1]):
            print(f"[WARN] the {transport} baseline itself lost or doubled events")
        verdicts.append((transport, results[0]))
    print()
    for transport, result in verdicts:
        print(summary(transport, result))
    return 0 if all(passes(result) for _, result in verdicts) else 1


def missing_tools() -> str | None:
    if shutil.which("redis-server") is None:
        return "redis-server not found (apt-get install redis-server)"
    if not (os.path.isfile(NGINX_PATH) and os.access(NGINX_PATH, os.X_OK)):
        return f"nginx not found at {NGINX_PATH} (apt-get install nginx, or set NGINX_PATH)"
    return None


async def postgres_reachable() -> str | None:
    import asyncpg

    try:
        connection = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    except Exception as error:
        return f"PostgreSQL unavailable at {POSTGRES_DSN} ({type(error).__name__}: {error})"
    await connection.close()
    return None


def main() -> int:
    args = parse_args()
    problem = missing_tools() or asyncio.run(postgres_reachable())
    if problem:
        print(problem, file=sys.stderr)
        return 2
    return run_to_exit(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
