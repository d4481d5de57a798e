"""Actions benchmark: the round-trip latency of an action call, against a plain Helix POST.

    uv run --no-sync python bench/actions.py           # full: 1,000 calls per row
    uv run --no-sync python bench/actions.py --short   # CI: 200 calls per row (~10 s)

What is measured. A client sends `{"op": "call", "action": "chat.send", ...}` on /ws/events
and waits for its `system.result`: client -> replica -> ActionRunner -> Helix
`POST /helix/chat/messages` at the simulator -> replica -> client, timed with perf_counter from
just before the frame is sent until the result frame is read and parsed, one call in flight.
The baseline, in the same run, is the part no call can avoid: the same Helix request sent
straight from this process with httpx (the replica's own token, same endpoint and body, one
keep-alive connection as StreamCore's Helix client has), so the difference is StreamCore's own
cost: the WebSocket hop, validation, the scope check, the Helix client and its pacer, the
answer. Targets (the issue): p99(call) <= 1.5 x p99(baseline) + 5 ms; no call unanswered
within CALL_TIMEOUT_S; none answered `ok: false` (nor answered ok with the message missing at
the simulator's GET /control/chat). Extra rows, not targets: the same calls 8 in flight on one
socket (the most a connection may run, app/socket_requests.py), and POST /actions/chat.send.

Noise. The rows run in interleaved blocks (one of each per round, the order reversed every
other round), so a slow moment of the machine hits every row alike; the first `warmup` calls
of each row (connections, first-use imports and caches) are not counted.

Stack. All real, on loopback: a private redis-server, a fresh schema in the local PostgreSQL
(POSTGRES_TEST_DSN, dropped after), the simulator in this process (its server shares this
event loop with the clients: the baseline pays that as much as the calls), and one
`streamcore run` replica (bench/chaos_stack.py), authorized through its /tokens/link and
callback, given the scopes GET /actions lists for chat.send through the link of the first
call's `auth_required` answer when the token lacks them, and started (POST /system/start,
EventSub over WebSocket; its chat worker gets every message sent): a deployment as it runs.

Limits. The simulator's Helix bucket (per client id and user: baseline and calls charge the
same one) is raised with POST /control/ratelimit, so neither a 429 nor StreamCore's pacer
(tokens/pacing.py) waits. The per-key call limit (app/callers.py: 5/s, bursts of 10, no
setting raises it) would refuse all but 5 calls a second of a client key, so the bench calls
as the operator, who is not limited: the replica runs without STREAMCORE_ADMIN_TOKEN, where
app/callers.py makes a local connection the operator; the WebSocket client (no key, no
Origin: the "local client") and POST /actions connect from loopback. Every /ws/events client,
the operator's too, also has an inbound frame bucket (events/inbound.py: WS_INBOUND_RATE 5/s,
WS_INBOUND_BURST 20; beyond it the socket is closed 1008 and calls in flight go unanswered).
Calls one at a time run hundreds a second, so the replica gets both at the setting's highest
rate, 10,000: the measure is the call path, not that guard (which a deployment whose clients
call actions quickly must raise the same way).

Prints a table (n, unanswered, errors, p50/p90/p99/max in ms), the targets and one line
`actions summary: <mode> PASS|FAIL - ...`; exits 0 when every target holds, 1 when one does
not, 2 when the bench could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import sys
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chaos_stack import CALLBACK, Replica, authorize, private_backends, replica_env  # noqa: E402
from bench.faults_stack import free_port, run_to_exit, signals_cancel, wait_for  # noqa: E402
from simulator.testing import RunningSimulator, run_simulator  # noqa: E402

ACTION = "chat.send"
#: p99(call) may be at most RATIO x p99(baseline) + SLACK_MS.
RATIO = 1.5
SLACK_MS = 5.0
#: A call without its answer after this long is unanswered.
CALL_TIMEOUT_S = 10.0
#: Far above every Helix call of a run: no bucket ever runs low.
RATELIMIT_PER_MINUTE = 1_000_000
CONCURRENCY = 8
#: WS_INBOUND_RATE and WS_INBOUND_BURST of the replica: the setting's highest rate.
INBOUND_RATE = 10_000


@dataclass(frozen=True)
class Mode:
    name: str
    calls: int  # per row
    rounds: int  # blocks per row, interleaved
    warmup: int


MODES = {"full": Mode("full", 1000, 10, 20), "short": Mode("short", 200, 10, 20)}


@dataclass
class Row:
    label: str
    prefix: str  # starts every chat message of this row, to find them at the simulator
    calls: int = 0  # counted (warm-up left out)
    ms: list[float] = field(default_factory=list)  # answered ok, counted calls only
    unanswered: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    sent: set[str] = field(default_factory=set)  # messages answered ok (warm-up too)
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def pct(self, q: float) -> float:
        ordered = sorted(self.ms)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan

    def message(self) -> str:
        return f"{self.prefix} {next(self.counter)}"


#: One call of a row, given its message: (answered ok, the error code otherwise).
Call = Callable[[str], Awaitable[tuple[bool, str]]]


async def timed(row: Row, call: Call, counted: bool) -> None:
    message = row.message()
    row.calls += counted
    began = time.perf_counter()
    try:
        # asyncio.timeout, not wait_for: in 3.11 wait_for runs the call as a task of its own,
        # a loop turn more on every call.
        async with asyncio.timeout(CALL_TIMEOUT_S):
            ok, code = await call(message)
    except (TimeoutError, httpx.HTTPError, WebSocketException):
        row.unanswered += counted
        return
    elapsed_ms = (time.perf_counter() - began) * 1000
    if ok:
        row.sent.add(message)
    if not counted:
        return
    if ok:
        row.ms.append(elapsed_ms)
    else:
        row.errors[code] += 1


async def block(row: Row, call: Call, calls: int, in_flight: int, counted: bool) -> None:
    """`calls` calls of `row`, `in_flight` at a time (each lane sends its next on an answer)."""
    left = iter(range(calls))

    async def lane() -> None:
        for _ in left:
            await timed(row, call, counted)

    await asyncio.gather(*(lane() for _ in range(in_flight)))


class CallSocket:
    """One /ws/events client: calls by id; a reader task matches each system.result to its
    call (so several can be in flight) and stamps nothing itself: the caller times."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.ids = itertools.count()
        self.other_frames = 0
        self.closed = ""  # why the socket closed, if it did
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                frame = json.loads(text)
                if frame.get("event") != "system.result":
                    self.other_frames += 1  # events of the running system (chat, ...)
                    continue
                waiter = self.pending.pop(str(frame["data"].get("id")), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(frame["data"])
        except Exception as error:  # kept, not raised: the calls left say it as unanswered
            self.closed = f"{type(error).__name__}: {error}"
        finally:  # closed: nothing more will be answered
            self.closed = self.closed or f"closed {self.ws.close_code} {self.ws.close_reason}"
            for waiter in self.pending.values():
                if not waiter.done():
                    waiter.set_exception(TimeoutError("the socket closed"))

    async def call(self, message: str) -> tuple[bool, str]:
        if self.reader.done():
            raise TimeoutError("the socket closed")
        call_id = f"c{next(self.ids)}"
        waiter = self.pending[call_id] = asyncio.get_running_loop().create_future()
        frame = {"op": "call", "id": call_id, "action": ACTION, "args": {"message": message}}
        try:
            await self.ws.send(json.dumps(frame))
            data = await waiter
        finally:
            self.pending.pop(call_id, None)
        error = data.get("error") or {}
        return bool(data.get("ok")), str(error.get("code", "no code"))


async def grant_scopes(replica: Replica) -> list[str]:
    """The scopes GET /actions lists for ACTION, granted through the link the first call's
    auth_required answer carries (when the token lacks them): the product's own path."""
    listed = (await replica.http.get("/actions")).json()["actions"]
    scopes: list[str] = next(a["scopes"] for a in listed if a["name"] == ACTION)
    answer = await replica.http.post(f"/actions/{ACTION}", json={"message": "grant"})
    if answer.status_code == 401 and answer.json()["error"]["code"] == "auth_required":
        async with httpx.AsyncClient(timeout=10) as browser:
            approval = await browser.get(answer.json()["error"]["auth_url"])
        query = httpx.URL(approval.headers["location"]).query.decode()
        done = await replica.http.get(
            f"/tokens/callback?{query}", headers={"Accept": "application/json"}
        )
        if done.status_code != 200:
            raise RuntimeError(f"granting {scopes}: {done.status_code} {done.text[:200]}")
        answer = await replica.http.post(f"/actions/{ACTION}", json={"message": "grant"})
    if answer.status_code != 200:
        raise RuntimeError(f"POST /actions/{ACTION}: {answer.status_code} {answer.text[:300]}")
    return scopes


def replica_token(sim: RunningSimulator, user_id: str, scopes: list[str]) -> str:
    """The replica's access token, read from the simulator: the newest valid token of the
    broadcaster for this client holding the scopes (the one the grant's callback got)."""
    now = time.time()
    for token in reversed(sim.state.oauth.access_by_user[user_id]):
        held = token.client_id == sim.client_id and set(scopes) <= set(token.scopes)
        if held and token.is_valid(now):
            return token.value
    raise RuntimeError(f"no token of {user_id} with {scopes} at the simulator")


async def start(replica: Replica) -> None:
    started = await replica.http.post("/system/start", headers={"Origin": replica.url})
    if started.status_code != 200:
        raise RuntimeError(f"POST /system/start: {started.status_code} {started.text[:300]}")

    async def running() -> bool:
        status = await replica.status()
        return bool(status.get("running")) and status["gateway"].get("state") == "connected"

    await wait_for("the system running, EventSub connected", running, 60, 0.25)


async def measure(mode: Mode, sim: RunningSimulator, replica: Replica) -> list[Row]:
    scopes = await grant_scopes(replica)
    await start(replica)
    async with httpx.AsyncClient(base_url=sim.control_url, timeout=10) as control:
        limited = await control.post("/ratelimit", json={"per_minute": RATELIMIT_PER_MINUTE})
        limited.raise_for_status()
    user_id = sim.users["broadcaster"].id
    token = replica_token(sim, user_id, scopes)
    helix_headers = {"Client-Id": sim.client_id, "Authorization": f"Bearer {token}"}
    rows = [
        Row("baseline: Helix POST", "bench helix"),
        Row("call over /ws/events", "bench ws"),
        Row(f"call, {CONCURRENCY} in flight", "bench ws8"),
        Row(f"POST /actions/{ACTION}", "bench http"),
    ]
    ws_url = replica.url.replace("http", "ws", 1) + "/ws/events"
    async with (
        httpx.AsyncClient(base_url=sim.api_url, headers=helix_headers, timeout=None) as helix,
        httpx.AsyncClient(base_url=replica.url, timeout=None) as actions,
        connect(ws_url, open_timeout=10, max_size=2**22) as ws,
    ):
        socket = CallSocket(ws)

        async def baseline(message: str) -> tuple[bool, str]:
            body = {"broadcaster_id": user_id, "sender_id": user_id, "message": message}
            answer = await helix.post("/chat/messages", json=body)
            sent = answer.status_code == 200 and answer.json()["data"][0]["is_sent"]
            return sent, str(answer.status_code)

        async def over_http(message: str) -> tuple[bool, str]:
            answer = await actions.post(f"/actions/{ACTION}", json={"message": message})
            if answer.status_code == 200:
                return True, ""
            try:
                return False, str(answer.json()["error"]["code"])
            except (ValueError, KeyError, TypeError):  # not StreamCore's JSON answer
                return False, f"HTTP {answer.status_code}"

        plan = [(rows[0], baseline, 1), (rows[1], socket.call, 1)]
        plan += [(rows[2], socket.call, CONCURRENCY), (rows[3], over_http, 1)]
        for row, call, in_flight in plan:
            await block(row, call, mode.warmup, in_flight, counted=False)
        per_block = mode.calls // mode.rounds
        for number in range(mode.rounds):
            for row, call, in_flight in plan if number % 2 == 0 else reversed(plan):
                await block(row, call, per_block, in_flight, counted=True)
        if socket.reader.done():  # unanswered calls follow: say why
            print(f"[measure] the /ws/events client's socket ended: {socket.closed}")
        # The running system's chat worker turns each message sent into a chat event, so the
        # replica fans out as it calls (a load any live deployment has).
        print(f"[measure] the /ws/events client also got {socket.other_frames} event frames")
        socket.reader.cancel()
    # A call answered ok whose message the simulator never got is an error of its row.
    async with httpx.AsyncClient(timeout=30) as control:
        listed = (await control.get(f"{sim.control_url}/chat")).json()["data"]
    received = {entry["message"] for entry in listed if entry["is_sent"]}
    for row in rows:
        if row.sent - received:
            row.errors["ok, not at the simulator"] += len(row.sent - received)
    return rows


async def run(mode: Mode, keep: bool, log_level: str) -> list[Row]:
    main_task = asyncio.current_task()
    assert main_task is not None
    async with (
        private_backends("streamcore-actions-", keep) as (workdir, redis, schema),
        run_simulator(redirect_uri=CALLBACK) as sim,
    ):
        with signals_cancel(main_task):
            env = replica_env(sim, redis.url, schema.url, "websocket", 5.0, "")
            # No admin token: a loopback caller is then the (unlimited) operator.
            del env["STREAMCORE_ADMIN_TOKEN"]
            env["STREAMCORE_LOG_LEVEL"] = log_level
            # Every inbound frame counts against this bucket, the operator's too; at the
            # default 5/s (burst 20) calls past ~20 would be answered rate_limited.
            env.update(WS_INBOUND_RATE=f"{INBOUND_RATE:g}", WS_INBOUND_BURST=str(INBOUND_RATE))
            replica = Replica("actions", free_port(), workdir, env)
            replica.start()
            try:
                await replica.wait_serving()
                await authorize(replica)
                return await measure(mode, sim, replica)
            finally:
                await replica.close()


def show(mode: Mode, rows: list[Row]) -> None:
    print(
        f"\n== {ACTION} round trips: {mode.calls} per row in {mode.rounds} interleaved blocks, "
        f"{mode.warmup} warm-up calls each not counted"
    )
    print(
        f"{'row':<26}{'n':>6}{'unanswered':>12}{'errors':>8}"
        f"{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    for row in rows:
        print(
            f"{row.label:<26}{row.calls:>6}{row.unanswered:>12}{row.errors.total():>8}"
            f"{row.pct(0.5):>9.2f}{row.pct(0.9):>9.2f}{row.pct(0.99):>9.2f}{row.pct(1.0):>9.2f}"
        )
    for row in filter(lambda r: r.errors, rows):
        print(f"  {row.label} errors: {dict(row.errors)}")


def check(rows: list[Row]) -> list[tuple[str, bool]]:
    base, call = rows[0], rows[1]
    limit = RATIO * base.pct(0.99) + SLACK_MS
    unanswered = sum(r.unanswered for r in rows[1:])
    errors = sum(r.errors.total() for r in rows[1:])
    return [
        (
            f"p99(call) {call.pct(0.99):.2f} ms <= {RATIO} x p99(baseline) "
            f"{base.pct(0.99):.2f} ms + {SLACK_MS:g} ms = {limit:.2f} ms",
            call.pct(0.99) <= limit,
        ),
        (f"unanswered calls {unanswered} == 0 (every row)", unanswered == 0),
        (f"errors {errors} == 0 (every row)", errors == 0),
        # Not the issue's, but a baseline that failed compares nothing.
        (f"baseline failures {base.calls - len(base.ms)} == 0", base.calls == len(base.ms)),
    ]


async def main(args: argparse.Namespace) -> int:
    mode = MODES["short" if args.short else "full"]
    began = time.monotonic()
    try:
        rows = await run(mode, args.keep, args.log_level)
    except Exception as error:  # whatever stopped it, the bench could not run: exit 2
        traceback.print_exc()
        print(f"actions summary: {mode.name} ERROR - {error}")
        return 2
    show(mode, rows)
    checks = check(rows)
    print("\n== targets")
    for text, ok in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {text}")
    passed = all(ok for _, ok in checks)
    base, call = rows[0], rows[1]
    print(
        f"actions summary: {mode.name} {'PASS' if passed else 'FAIL'} - "
        f"{call.calls} calls p50 {call.pct(0.5):.2f} ms p99 {call.pct(0.99):.2f} ms vs baseline "
        f"p50 {base.pct(0.5):.2f} ms p99 {base.pct(0.99):.2f} ms "
        f"(limit {RATIO * base.pct(0.99) + SLACK_MS:.2f} ms), "
        f"{sum(r.unanswered for r in rows[1:])} unanswered, "
        f"{sum(r.errors.total() for r in rows[1:])} errors ({time.monotonic() - began:.0f} s)"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the CI run (well under a minute)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    parser.add_argument("--log-level", default="INFO", help="the replica's STREAMCORE_LOG_LEVEL")
    raise SystemExit(run_to_exit(main(parser.parse_args())))
