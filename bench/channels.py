"""Channels benchmark: onboarding many channels at Twitch's rate limit, and the fan-out per channel.

    uv run --no-sync python bench/channels.py           # full: 1000 channels, 10,000 clients
    uv run --no-sync python bench/channels.py --short   # CI: 50 channels, 500 clients (~40 s)

Everything is real and on loopback: a private redis-server on a free port, a fresh schema in
the local PostgreSQL (POSTGRES_TEST_DSN, default 127.0.0.1:5432 db `test`, dropped after), the
Twitch simulator in this process, and `streamcore run` replicas as subprocesses
(bench/chaos_stack.py), with TWITCH_EVENTSUB_TRANSPORT=conduit.

Workers. The replicas run one worker wanting exactly 5 types per channel (channel.follow v2,
channel.subscribe, channel.cheer, stream.online, stream.offline): StreamCore's own workers want
14 and discovery has no setting to choose among them, so the replicas get a `workers` package of
the bench's first on PYTHONPATH (bench/channels_worker.py, see there).

1. Onboarding. N synthetic broadcasters (POST /control/users) are added through the real path:
   the default channel by GET /tokens/link and its callback, then per channel POST /channels,
   the simulator's /authorize approved as that broadcaster (POST /control/oauth), and the
   replica's GET /tokens/callback. With every channel added and the system still stopped, the
   simulator's Helix rate limit is set to `per_minute` (POST /control/ratelimit: every bucket
   starts full), and the clock starts at POST /system/start: from there the coordinator's
   keeper creates the conduit and every subscription with the app token, paced by
   tokens/pacing.py. Starting after the last channel is added makes the phase one
   reconciliation whose every Helix call is StreamCore's choice (adding channels while it runs
   would time the bench's OAuth round trips too, and restart the reconciliation as channels
   trickle in). The clock stops when the simulator lists all (N + 1) x 5 subscriptions enabled
   on the conduit (read in-process every 50 ms).
   Floor: the app-token Helix calls made in that phase (C: GET/POST conduits, shard
   assignments, the subscription list, each creation; counted as they are charged to the
   simulator's app bucket, 429s apart) can go no faster than the bucket allows: the first
   `per_minute` come from the full bucket, each further one needs 60 / per_minute seconds of
   refill, so floor = max(0, C - per_minute) x 60 / per_minute. Target: elapsed within 1.2x of
   the floor, 0 failures (subscriptions `failed` in GET /system/status, and expected ones not
   enabled at the simulator). The per_minute values put the full run's floor near 100 s and
   the short one's near 10 s.
2. Fan-out. On a fresh replica per phase (same Redis and schema, so the N channels are known;
   the system stopped: the fan-out runs regardless), neither of them the coordinator (a third
   replica holds the lease, as in `--scale app=3`: the coordinator also reads every envelope
   from pub/sub to wrap raw PUBLISHes, events/raw.py), first the baseline, then the measure:
   - single channel: every client on one channel (`?channel=<login>`), K events published;
   - per channel: the clients spread evenly over the N channels, K events per channel;
   so both deliver K events to every client (the same total), over the same seconds. The
   full run repeats both phases in 3 rounds (--rounds; odd rounds measure the per-channel
   phase first) and compares the medians: on a shared machine a noisy neighbour inflates one
   round's figure, not the median of three; every round is printed. Events
   are published from this process through an EventPublisher on the same Redis with
   `channel=`. The clients (bench/bench_client.py's raw client, in spawned processes) check
   each event's channel: another channel's is a cross-channel delivery. CPU per delivery is
   the replica's CPU time (/proc, from the first publish until every client has its K
   events) over the deliveries; memory per client is its RSS growth from idle (after one
   client connected and left) to all clients connected, over the clients. Targets: CPU per
   delivery within 1.3x and memory per client within 1.2x of the single-channel phase, no
   event lost and 0 cross-channel deliveries. CPU is printed split into user and kernel time:
   on loopback the kernel's part of each write includes the receiving client's TCP work and
   wake-up, which a client on another machine would not cost this one.

Prints every figure with its baseline and `channels summary: PASS|FAIL ...`; exits 0 when every
target holds, 1 when one does not, 2 when the bench could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import resource
import statistics
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.channels_fanout import Phase, fan_out  # noqa: E402
from bench.channels_onboard import Onboarding, onboard, overlay_workers  # noqa: E402
from bench.chaos_stack import CALLBACK, Replica, private_backends, replica_env  # noqa: E402
from bench.faults_stack import free_port, run_to_exit, signals_cancel  # noqa: E402
from simulator.testing import run_simulator  # noqa: E402

ONBOARD_RATIO = 1.2
CPU_RATIO = 1.3
RSS_RATIO = 1.2


@dataclass(frozen=True)
class Mode:
    name: str
    channels: int
    per_minute: int
    clients: int
    events_per_client: int
    seconds: float
    client_processes: int
    #: Fan-out rounds (each a single-channel and a per-channel phase, on fresh replicas).
    rounds: int


MODES = {
    # (1001 x 5 + ~7) calls: floor (5012 - 1700) x 60 / 1700 = ~117 s.
    "full": Mode("full", 1000, 1700, 10_000, 20, 20.0, 4, 3),
    # (51 x 5 + ~18) calls: floor (273 - 240) x 60 / 240 = ~8 s.
    "short": Mode("short", 50, 240, 500, 60, 3.0, 1, 1),
}


async def wait_coordinating(replica: Replica, within_s: float = 30.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if (await replica.status())["cluster"]["is_coordinator"]:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{replica.replica_id} did not become the coordinator: {replica.tail()}")


def raise_fd_limit() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def measure(
    mode: Mode, keep: bool, log_level: str, onboarding_only: bool
) -> tuple[Onboarding, list[Phase] | None, list[Phase] | None]:
    main_task = asyncio.current_task()
    assert main_task is not None
    # Each POST /channels also starts a device flow that StreamCore polls until it expires
    # (30 min), even once the link authorized the channel: at Twitch's 5 s interval a
    # thousand of them flood StreamCore's HTTP pool (PoolTimeout). The simulated Twitch
    # asks for a 60 s interval instead, so the bench measures the onboarding, not that.
    async with (
        private_backends("streamcore-channels-", keep) as (workdir, redis, schema),
        run_simulator(redirect_uri=CALLBACK, device_poll_interval_s=60.0) as sim,
    ):
        with signals_cancel(main_task):
            env = replica_env(sim, redis.url, schema.url, "conduit", 5.0, "")
            env["PYTHONPATH"] = f"{overlay_workers(workdir)}:{ROOT}"
            env["STREAMCORE_LOG_LEVEL"] = log_level
            print(f"[onboarding] adding {mode.channels} channels ...", flush=True)
            onboarding = await onboard(sim, env, workdir, mode.channels, mode.per_minute)
            show_onboarding(onboarding)
            if onboarding_only:
                return onboarding, None, None
            tags = onboarding.channel_tags
            coordinator = Replica("fanout-coordinator", free_port(), workdir, env)
            coordinator.start()
            try:
                await coordinator.wait_serving()
                await wait_coordinating(coordinator)
                rounds = [
                    await fan_out_round(mode, n, tags, workdir, env, redis.url)
                    for n in range(mode.rounds)
                ]
            finally:
                await coordinator.close()
            singles, spreads = [r[0] for r in rounds], [r[1] for r in rounds]
            show_fanout(singles, spreads)
            return onboarding, singles, spreads


async def fan_out_round(
    mode: Mode,
    number: int,
    tags: list[tuple[str, str]],
    workdir: Path,
    env: dict[str, str],
    redis_url: str,
) -> tuple[Phase, Phase]:
    """One single-channel and one per-channel phase, each on a fresh replica.

    As a cluster `--scale app=3` runs it: one replica coordinates (and so also wraps raw
    PUBLISHes, reading every envelope from pub/sub once more); both measures run on other
    replicas, so they compare like with like. Both start together, so neither measure has a
    replica starting beside it; the second idles (no clients) while the first is measured.
    Odd rounds measure the per-channel phase first, so a drift of the machine's load during
    the run weighs on both alike.
    """
    k = mode.events_per_client
    single = Phase("single", mode.clients, 1, k, k, mode.seconds)
    spread = Phase("channels", mode.clients, len(tags), k * len(tags), k, mode.seconds)
    per_channel = [tags[n % len(tags)] for n in range(mode.clients)]
    plans = [
        (single, [tags[0]] * mode.clients, [tags[0]] * k),
        (spread, per_channel, tags * k),
    ]
    if number % 2:
        plans.reverse()
    replicas = [Replica(f"fanout-{number}-{n}", free_port(), workdir, env) for n in (1, 2)]
    try:
        for replica in replicas:
            replica.start()
        await asyncio.gather(*(r.wait_serving() for r in replicas))
        for replica, (phase, assignments, schedule) in zip(replicas, plans, strict=True):
            print(
                f"[fan-out] round {number + 1}/{mode.rounds}: {mode.clients} clients on "
                f"{phase.channels} channel(s) ...",
                flush=True,
            )
            await fan_out(phase, replica, assignments, schedule, redis_url, mode.client_processes)
    finally:
        await asyncio.gather(*(r.close() for r in replicas))
    return single, spread


def show_onboarding(o: Onboarding) -> None:
    charged = o.calls - o.refused
    print(f"\n== onboarding: {o.channels} channels + the default, 5 types each, conduit")
    print(f"  channels added through POST /channels + OAuth in {o.add_s:.1f} s")
    print(f"  rate limit: {o.per_minute} points/min (bucket starts full)")
    print(
        f"  app-token Helix calls: {o.calls} ({o.refused} answered 429) for "
        f"{o.expected} subscriptions"
    )
    print(
        f"  floor: ({charged} - {o.per_minute}) x 60 / {o.per_minute} = {o.floor_s:.1f} s; "
        f"elapsed {o.elapsed_s:.1f} s = x{o.ratio:.2f} of the floor"
    )
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(o.statuses.items()))
    print(
        f"  failures: {o.failed_status} failed in /system/status ({statuses}), "
        f"{o.failed_sim} expected not enabled at the simulator, {o.unexpected_sim} unexpected"
    )


@dataclass(frozen=True)
class Figures:
    """A phase's figures over the rounds: the median of each (a noisy neighbour on a shared
    machine inflates one round, not the median), and what must hold in every round."""

    cpu_us: float
    user_us: float
    kernel_us: float
    kb_per_client: float
    lost: int
    cross: int

    @classmethod
    def of(cls, phases: list[Phase]) -> Figures:
        return cls(
            statistics.median(p.cpu_us_per_delivery for p in phases),
            statistics.median(p.user_us_per_delivery for p in phases),
            statistics.median(p.kernel_us_per_delivery for p in phases),
            statistics.median(p.kb_per_client for p in phases),
            sum(p.lost for p in phases),
            sum(p.cross for p in phases),
        )


def show_fanout(singles: list[Phase], spreads: list[Phase]) -> None:
    spread = spreads[0]
    print(
        f"\n== fan-out: {spread.clients} clients, {spread.per_client} events each "
        f"over {spread.seconds:g} s, one replica (not the coordinator), {len(spreads)} round(s)"
    )
    print(
        f"{'round / phase':<26}{'events':>8}{'deliveries':>12}{'lost':>6}{'cross':>7}{'sys':>5}"
        f"{'reads':>7}{'cpu us/d':>10}{'user':>7}{'kernel':>8}{'idle MB':>9}{'KB/cli':>8}"
        f"{'connect s':>11}{'deliver s':>11}"
    )
    for number, (single, spread) in enumerate(zip(singles, spreads, strict=True), 1):
        for phase, name in ((single, "single channel"), (spread, f"{spread.channels} channels")):
            flag = " (coordinator!)" if phase.coordinator else ""
            print(
                f"{f'{number}: {name}{flag}':<26}{phase.events:>8}{phase.received:>12}"
                f"{phase.lost:>6}{phase.cross:>7}{phase.system:>5}{phase.log_reads:>7}"
                f"{phase.cpu_us_per_delivery:>10.2f}{phase.user_us_per_delivery:>7.2f}"
                f"{phase.kernel_us_per_delivery:>8.2f}{phase.rss_idle / 2**20:>9.1f}"
                f"{phase.kb_per_client:>8.2f}{phase.connect_s:>11.1f}{phase.delivered_s:>11.1f}"
            )
    base, many = Figures.of(singles), Figures.of(spreads)
    for figures, name in ((base, "single channel"), (many, f"{spread.channels} channels")):
        print(
            f"  median {name}: {figures.cpu_us:.2f} us/delivery (user {figures.user_us:.2f}, "
            f"kernel {figures.kernel_us:.2f}), {figures.kb_per_client:.2f} KB/client"
        )
    events = statistics.median(p.events for p in spreads)
    reads = statistics.median(p.log_reads for p in spreads)
    print(f"  per-channel phase: {events / max(reads, 1):.1f} events per read of the log")


def check(o: Onboarding, base: Figures, many: Figures) -> list[tuple[str, bool]]:
    """The targets, from the single-channel (`base`) and per-channel (`many`) figures."""
    cpu = many.cpu_us / base.cpu_us
    rss = many.kb_per_client / base.kb_per_client if base.kb_per_client > 0 else 99.0
    lost = base.lost + many.lost
    return [
        (f"onboarding x{o.ratio:.2f} of the floor <= {ONBOARD_RATIO}", o.ratio <= ONBOARD_RATIO),
        (f"onboarding failures {o.failures} == 0", o.failures == 0),
        (
            f"cpu/delivery {many.cpu_us:.2f} us x{cpu:.2f} of single-channel "
            f"{base.cpu_us:.2f} us <= {CPU_RATIO}",
            cpu <= CPU_RATIO,
        ),
        (
            f"memory/client {many.kb_per_client:.2f} KB x{rss:.2f} of single-channel "
            f"{base.kb_per_client:.2f} KB <= {RSS_RATIO}",
            rss <= RSS_RATIO,
        ),
        (
            f"cross-channel deliveries {many.cross + base.cross} == 0",
            not (many.cross or base.cross),
        ),
        (f"events lost {lost} == 0", not lost),
    ]


async def main(args: argparse.Namespace) -> int:
    mode = MODES["short" if args.short else "full"]
    if args.rounds:
        mode = dataclasses.replace(mode, rounds=args.rounds)
    raise_fd_limit()
    began = time.monotonic()
    try:
        onboarding, singles, spreads = await measure(
            mode, args.keep, args.log_level, args.onboarding_only
        )
    except (RuntimeError, OSError, httpx.HTTPError) as error:
        traceback.print_exc()
        print(f"channels summary: {mode.name} ERROR - {error}")
        return 2
    if singles is None or spreads is None:
        return 0
    base, many = Figures.of(singles), Figures.of(spreads)
    checks = check(onboarding, base, many)
    print("\n== targets")
    for text, ok in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {text}")
    passed = all(ok for _, ok in checks)
    print(
        f"channels summary: {mode.name} {'PASS' if passed else 'FAIL'} - "
        f"{mode.channels} channels onboarded x{onboarding.ratio:.2f} of the floor, "
        f"{mode.clients} clients: cpu/delivery x{many.cpu_us / base.cpu_us:.2f}, memory/client x"
        f"{many.kb_per_client / max(base.kb_per_client, 1e-9):.2f}, "
        f"{many.cross + base.cross} cross-channel ({time.monotonic() - began:.0f} s)"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the CI run (well under a minute)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    parser.add_argument("--log-level", default="WARNING", help="the replicas' STREAMCORE_LOG_LEVEL")
    parser.add_argument(
        "--rounds", type=int, default=0, help="fan-out rounds (default: full 3, short 1)"
    )
    parser.add_argument(
        "--onboarding-only", action="store_true", help="skip the fan-out (no summary line)"
    )
    raise SystemExit(run_to_exit(main(parser.parse_args())))
