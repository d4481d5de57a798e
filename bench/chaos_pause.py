"""The Redis pause of the chaos benchmark (bench/chaos.py --pause-redis S).

In the middle of the run the private redis-server gets SIGSTOP for S seconds, then SIGCONT: a
Redis that hangs without closing a connection (a VM stall, a swapped-out host), which every
lease holder must survive without acting twice. Kills are left out while Redis is paused and
for PAUSE_QUIET_S after (and just before the pause, so no takeover is under way when it starts).

- `plan_pause`: when (half-way between two kill moments, near the middle of the run);
- `pause_redis`: the SIGSTOP / SIGCONT itself, and the simulator's conduit drop count around it;
- `StatusWatch`: every replica's GET /system/status every 100 ms (at most one request in flight
  per replica: a status waits up to 1.5 s per part while Redis is paused) from just before the
  pause to the end of the run, keeping `cluster.is_coordinator` (true only while the replica
  holds the lease and its local view is valid; read after the status's Redis calls, so the
  answer's arrival time) and the `gateway.shards` keys (read first, so the request's send time);
- `doubles`: the moments two replicas claim the same thing at once: the coordinator within
  TOGETHER_S (a lease passes to the next holder no sooner than 0.25 x TTL after the old
  holder's local view expired, so a takeover never shows as a double), a shard in the same
  poll round (SAME_ROUND_S: a shard given back on purpose is released after it left its
  holder's list, and may be claimed elsewhere within the next poll interval).
- the report: figures over the events fired around the pause, the doubles per phase (before,
  during the pause, settling: --pause-settle-s after SIGCONT, after) and the pause's targets.
"""

from __future__ import annotations

import asyncio
import math
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from bench.chaos_stack import BEARER, is_conduit

if TYPE_CHECKING:
    from bench.chaos_clients import SessionWatch
    from bench.chaos_scenario import Fired, Row
    from bench.chaos_stack import Stack

#: No kill this long after SIGCONT.
PAUSE_QUIET_S = 5.0
#: Nor this long (plus the lease) before SIGSTOP: no takeover under way when Redis stops.
KILL_LEAD_S = 1.0
#: Status polls begin this long before SIGSTOP (who coordinates just before).
STATUS_LEAD_S = 2.0
#: Events fired this long before SIGSTOP count as the pause's (in flight to Redis).
WINDOW_LEAD_S = 1.0
#: Two coordinator claims closer than this (seconds) are at once (polls every 0.1 s).
TOGETHER_S = 0.15
#: Two shard lists sent closer than this are of the same poll round (sent together).
SAME_ROUND_S = 0.05
#: The replicas' heartbeat (cluster/replicas.py BEAT_S): a takeover after SIGCONT slower
#: than the lease + this is flagged.
BEAT_S = 1.0
#: A status during the pause answers after ~1.5 s per part that needs Redis.
STATUS_TIMEOUT_S = 15.0
PHASES = ("before", "pause", "settling", "after")


@dataclass
class StatusSample:
    """One GET /system/status of one replica."""

    replica: str
    sent: float  # wall clock
    received: float
    answered: bool
    coordinator: bool | None = None  # None: no answer, or the cluster part unavailable
    gateway: str | None = None  # "state/reason"
    shards: tuple[str, ...] = ()


@dataclass
class Double:
    """Two (or more) replicas claiming `what` at once."""

    at: float
    what: str  # "coordinator", "shard <id>", "session"
    who: tuple[str, ...]


@dataclass
class Pause:
    """The planned pause, what happened, and what the status polls saw."""

    offset: float  # seconds into the run
    seconds: float
    settle_s: float
    lease_s: float
    stopped_at: float | None = None  # wall clock of the SIGSTOP
    continued_at: float | None = None  # of the SIGCONT
    skipped_kills: list[float] = field(default_factory=list)
    #: The simulator's conduit drop count at the SIGSTOP and at the end of the settling.
    dropped_at_stop: int | None = None
    dropped_settled: int | None = None
    samples: list[StatusSample] = field(default_factory=list)
    #: A client's first `system.gateway` connected/subscribed published after SIGCONT.
    client_back: float | None = None

    def blocks_kill(self, offset: float) -> bool:
        """A kill planned at `offset` would fall just before, in or just after the pause."""
        first = self.offset - self.lease_s - KILL_LEAD_S
        return first <= offset < self.offset + self.seconds + PAUSE_QUIET_S

    def quiet(self, now: float) -> bool:
        """Redis is paused now, or was resumed less than PAUSE_QUIET_S ago (wall clock)."""
        if self.stopped_at is None:
            return False
        return self.continued_at is None or now < self.continued_at + PAUSE_QUIET_S

    def phase(self, at: float) -> str:
        if self.stopped_at is None or at < self.stopped_at:
            return "before"
        if self.continued_at is None or at < self.continued_at:
            return "pause"
        return "settling" if at < self.continued_at + self.settle_s else "after"

    def window(self) -> tuple[float, float]:
        """The events fired in here are the pause's (wall clock)."""
        stopped = self.stopped_at or 0.0
        continued = self.continued_at or stopped
        return stopped - WINDOW_LEAD_S, continued + self.settle_s

    def covers(self, fired: Fired) -> bool:
        since, until = self.window()
        return since <= fired.before <= until

    @property
    def dropped_in_window(self) -> int | None:
        if self.dropped_at_stop is None or self.dropped_settled is None:
            return None
        return self.dropped_settled - self.dropped_at_stop


def plan_pause(
    seconds: float, kill_every: float, pause_s: float, lease_s: float, settle_s: float
) -> Pause | None:
    """The pause near the middle of the run, half-way between two kill moments; None when
    off. Raises ValueError when it does not fit in the run."""
    if pause_s <= 0:
        return None
    nominal = max(0.0, (seconds - pause_s) / 2)
    offset = (math.floor(nominal / kill_every) + 0.5) * kill_every
    if offset + pause_s > seconds:
        offset = nominal
    if offset < STATUS_LEAD_S or offset + pause_s > seconds:
        raise ValueError(
            f"a {pause_s:g} s Redis pause does not fit in a {seconds:g} s run "
            f"(it needs {STATUS_LEAD_S:g} s before it)"
        )
    return Pause(offset, pause_s, settle_s, lease_s)


async def pause_redis(
    stack: Stack, pause: Pause, start: float, dropped: Callable[[], Awaitable[int | None]]
) -> None:
    """SIGSTOP the private redis-server at `start` + pause.offset (loop time), SIGCONT it
    pause.seconds later (whatever happens), then wait out the settling."""
    loop = asyncio.get_running_loop()
    process = stack.redis.process
    assert process is not None
    await asyncio.sleep(max(0.0, start + pause.offset - loop.time()))
    conduit = is_conduit(stack.transport)
    if conduit:
        pause.dropped_at_stop = await dropped()
    pause.stopped_at = time.time()
    process.send_signal(signal.SIGSTOP)
    print(f"  t={loop.time() - start:5.1f}s SIGSTOP redis-server for {pause.seconds:g} s",
          flush=True)  # fmt: skip
    try:
        await asyncio.sleep(pause.seconds)
    finally:
        process.send_signal(signal.SIGCONT)
        pause.continued_at = time.time()
    print(f"  t={loop.time() - start:5.1f}s SIGCONT redis-server", flush=True)
    await asyncio.sleep(pause.settle_s)
    if conduit:
        pause.dropped_settled = await dropped()


# -- status polls --------------------------------------------------------------------------------


@dataclass
class StatusWatch:
    """GET /system/status of every replica every `interval_s`, one request in flight each."""

    targets: list[tuple[str, str]]  # (replica id, base URL)
    samples: list[StatusSample]
    interval_s: float = 0.1

    async def run(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        busy: dict[str, asyncio.Task[None]] = {}
        async with httpx.AsyncClient(timeout=STATUS_TIMEOUT_S, headers=BEARER) as http:
            try:
                while True:
                    for name, url in self.targets:
                        task = busy.get(name)
                        if task is None or task.done():
                            busy[name] = asyncio.create_task(self._poll(http, name, url))
                    await asyncio.sleep(self.interval_s)
            finally:
                for task in busy.values():
                    task.cancel()
                await asyncio.gather(*busy.values(), return_exceptions=True)

    async def _poll(self, http: httpx.AsyncClient, name: str, url: str) -> None:
        sent = time.time()
        try:
            response = await http.get(f"{url}/system/status")
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError):
            self.samples.append(StatusSample(name, sent, time.time(), False))
            return
        self.samples.append(sample_of(name, sent, time.time(), body))


def sample_of(name: str, sent: float, received: float, body: dict[str, Any]) -> StatusSample:
    cluster = body.get("cluster") or {}
    flag = cluster.get("is_coordinator")
    gateway = body.get("gateway") or {}
    return StatusSample(
        replica=name,
        sent=sent,
        received=received,
        answered=True,
        coordinator=flag if isinstance(flag, bool) else None,
        gateway=f"{gateway.get('state')}/{gateway.get('reason')}",
        shards=tuple(sorted((gateway.get("shards") or {}), key=str)),
    )


def doubles(samples: list[StatusSample]) -> list[Double]:
    """Each moment two replicas claimed the coordinator, or the same shard, at once (see the
    module docstring): the later claim's time, and the claimants."""
    found: dict[tuple[float, str], set[str]] = {}
    for claims, together_s in (
        ([(s.received, "coordinator", s.replica) for s in samples if s.coordinator], TOGETHER_S),
        ([(s.sent, f"shard {x}", s.replica) for s in samples for x in s.shards], SAME_ROUND_S),
    ):
        claims.sort()
        for index, (at, what, replica) in enumerate(claims):
            for later, other_what, other in claims[index + 1 :]:
                if later - at > together_s:
                    break
                if other_what == what and other != replica:
                    found.setdefault((later, what), set()).update((replica, other))
    return [Double(at, what, tuple(sorted(who))) for (at, what), who in sorted(found.items())]


def session_doubles(watch: SessionWatch) -> list[Double]:
    """The simulator's polls that listed two sessions with enabled subscriptions."""
    return [Double(at, "session", tuple(ids)) for at, ids in watch.overlap_times]


def episodes(found: list[Double], joined_s: float = 1.0) -> list[tuple[float, float, Double, int]]:
    """Consecutive doubles of one claim, at most `joined_s` apart: (first, last, one, count)."""
    runs: list[tuple[float, float, Double, int]] = []
    last: dict[str, int] = {}
    for double in found:
        index = last.get(double.what)
        if index is not None and double.at - runs[index][1] <= joined_s:
            first, _, one, count = runs[index]
            runs[index] = (first, double.at, one, count + 1)
        else:
            last[double.what] = len(runs)
            runs.append((double.at, double.at, double, 1))
    return sorted(runs, key=lambda run: run[0])


# -- figures -----------------------------------------------------------------------------------


@dataclass
class PauseFigures:
    """What the report shows of one run's pause."""

    coordinator: Counter[str]
    shards: Counter[str] | None  # conduit only
    sessions: Counter[str] | None  # websocket only
    found: list[Double]
    observed: Counter[str]  # polls that answered with cluster.is_coordinator, per phase
    answered: Counter[str]  # polls that answered at all, per phase
    before: str | None  # the coordinator last seen before SIGSTOP
    back: tuple[str, float] | None  # the first coordinator seen after SIGCONT, and when
    acting_back: tuple[str, float] | None  # ... coordinating with a subscribed gateway


def figures(result: dict[str, Any]) -> PauseFigures | None:
    pause: Pause | None = result.get("pause")
    if pause is None or pause.continued_at is None:
        return None
    found = doubles(pause.samples)
    websocket = result["transport"] == "websocket"
    if websocket:
        found += session_doubles(result["watch"])
    found.sort(key=lambda d: d.at)

    def per_phase(what: Callable[[str], bool]) -> Counter[str]:
        return Counter(pause.phase(d.at) for d in found if what(d.what))

    def phase(sample: StatusSample) -> str:
        return pause.phase(sample.received)

    continued = pause.continued_at
    before = [s for s in pause.samples if s.coordinator and s.received < (pause.stopped_at or 0)]
    after = [s for s in pause.samples if s.coordinator and s.received >= continued]
    acting = [s for s in after if s.gateway == "connected/subscribed" or not websocket]
    first = min(after, key=lambda s: s.received, default=None)
    first_acting = min(acting, key=lambda s: s.received, default=None)
    return PauseFigures(
        coordinator=per_phase(lambda what: what == "coordinator"),
        shards=None if websocket else per_phase(lambda what: what.startswith("shard")),
        sessions=per_phase(lambda what: what == "session") if websocket else None,
        found=found,
        observed=Counter(
            pause.phase(s.received) for s in pause.samples if s.coordinator is not None
        ),
        answered=Counter(pause.phase(s.received) for s in pause.samples if s.answered),
        before=max(before, key=lambda s: s.received).replica if before else None,
        back=None if first is None else (first.replica, first.received - continued),
        acting_back=None
        if first_acting is None
        else (first_acting.replica, first_acting.received - continued),
    )


@dataclass
class WindowRow:
    client: str
    fired: int
    lost: int
    outside: int
    doubled: int


def window_rows(result: dict[str, Any]) -> list[WindowRow]:
    pause: Pause = result["pause"]
    fired = [f for f in result["fired"] if pause.covers(f)]
    rows: list[Row] = result["rows"]
    return [
        WindowRow(
            row.client,
            len(fired),
            sum(1 for f in row.lost_fired if pause.covers(f)),
            sum(1 for f in row.lost_outside if pause.covers(f)),
            sum(1 for f in row.doubled_fired if pause.covers(f)),
        )
        for row in rows
    ]


def pause_failures(result: dict[str, Any]) -> list[str]:
    """The pause's own targets: nobody claims twice after the settling (the coordinator, a
    shard, an EventSub session); no event of the pause's window doubled (websocket: none
    lost outside the announced gaps either; conduit: reported only)."""
    found = figures(result)
    if found is None:
        return []
    reasons = []
    for name, counts in (
        ("two coordinators", found.coordinator),
        ("one shard on two replicas", found.shards),
        ("two subscribed sessions", found.sessions),
    ):
        if counts and counts["after"]:
            reasons.append(f"{name} at once {counts['after']} time(s) after the settling")
    rows = window_rows(result)
    if any(row.doubled for row in rows):
        reasons.append(f"doubled around the pause {max(row.doubled for row in rows)}")
    return reasons


# -- report ------------------------------------------------------------------------------------


def count_cells(counts: Counter[str] | None) -> str:
    if counts is None:
        return f"{'n/a':>10}" * len(PHASES)
    return "".join(f"{counts[phase]:>10}" for phase in PHASES)


def show_pause(result: dict[str, Any]) -> None:
    """The pause's table (events fired around it, claims at once per phase) and details."""
    pause: Pause | None = result.get("pause")
    found = figures(result)
    if pause is None or found is None:
        return
    start = result["fired"][0].before if result["fired"] else 0.0
    since, until = pause.window()
    stopped = (pause.stopped_at or 0.0) - start
    skipped = ", ".join(f"t={moment:g}" for moment in pause.skipped_kills) or "none"
    print(f"\n[{result['label']}] Redis paused (SIGSTOP) at t={stopped:.1f}s for "
          f"{(pause.continued_at or 0.0) - (pause.stopped_at or 0.0):.1f} s; kills left out: "
          f"{skipped}; settling {pause.settle_s:g} s after SIGCONT")  # fmt: skip
    print(f"  events fired t={since - start:.1f}..{until - start:.1f}s:")
    print(f"  {'client':>8}{'fired':>7}{'lost':>6}{'in gap':>7}{'outside':>8}{'doubled':>8}")
    for row in window_rows(result):
        print(f"  {row.client:>8}{row.fired:>7}{row.lost:>6}{row.lost - row.outside:>7}"
              f"{row.outside:>8}{row.doubled:>8}")  # fmt: skip
    print(f"  {'two at once':<24}" + "".join(f"{phase:>10}" for phase in PHASES) + "  target")
    print(f"  {'coordinator (status)':<24}{count_cells(found.coordinator)}  0 after")
    if found.sessions is not None:
        print(f"  {'sessions (simulator)':<24}{count_cells(found.sessions)}  0 after")
    if found.shards is not None:
        print(f"  {'same shard (status)':<24}{count_cells(found.shards)}  0 after")
    print("  polls answered / with cluster.is_coordinator: "
          + ", ".join(f"{p} {found.answered[p]}/{found.observed[p]}" for p in PHASES)
          + " (the cluster part needs Redis: none while it is paused)")  # fmt: skip
    back = "none seen" if found.back is None else f"{found.back[0]} {found.back[1]:.2f} s"
    if found.back is not None and found.back[1] > pause.lease_s + BEAT_S:
        back += f" (slower than the lease + a heartbeat, {pause.lease_s + BEAT_S:g} s)"
    line = f"  coordinator before: {found.before or '?'}; after SIGCONT: {back}"
    if result["transport"] == "websocket":
        acting = found.acting_back
        line += "; with a subscribed gateway: " + (
            "none seen" if acting is None else f"{acting[0]} {acting[1]:.2f} s"
        )
        client = pause.client_back
        line += "; a client sees connected/subscribed: " + (
            "-" if client is None else f"{client - (pause.continued_at or 0.0):.2f} s"
        )
    print(line)
    if pause.dropped_at_stop is not None:
        print(f"  simulator conduit drops: {pause.dropped_at_stop} before SIGSTOP, "
              f"{pause.dropped_in_window} from SIGSTOP to the end of the settling")  # fmt: skip
    for first, last, one, count in episodes(found.found)[:8]:
        print(f"    t={first - start:.2f}..{last - start:.2f}s ({pause.phase(first)}) "
              f"{one.what} claimed by {', '.join(one.who)} ({count} x)")  # fmt: skip


def pause_summary(result: dict[str, Any]) -> str:
    found = figures(result)
    if found is None:
        return ""
    parts = [f"coordinators {found.coordinator['after']}"]
    if found.sessions is not None:
        parts.append(f"sessions {found.sessions['after']}")
    if found.shards is not None:
        parts.append(f"shards {found.shards['after']}")
    rows = window_rows(result)
    pause: Pause = result["pause"]
    return (
        f"; Redis pause {pause.seconds:g} s: two at once after settling: {', '.join(parts)} "
        f"(during/settling: coordinators {found.coordinator['pause']}/"
        f"{found.coordinator['settling']}); around it lost outside gaps "
        f"{max(r.outside for r in rows)}, doubled {max(r.doubled for r in rows)}"
    )
