"""The onboarding half of the channels benchmark (bench/channels.py): many channels added through
the real path, then every channel's subscriptions created on one conduit at the Helix rate limit.

- `overlay_workers`: the `workers` package the replica runs (bench/channels_worker.py only);
- `add_channels`: per channel POST /channels, the simulator's /authorize approved as that
  synthetic broadcaster (POST /control/oauth), and the replica's GET /tokens/callback;
- `AppCalls`: counts the Helix calls charged to the app token's bucket in the in-process
  simulator (every call of the app token is charged there, refused ones included);
- `onboard`: the whole phase, with its figures.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.channels_worker import TYPES
from bench.chaos_stack import Replica, authorize
from bench.faults_stack import ROOT, free_port, wait_for
from simulator.testing import RunningSimulator

#: Requests to the replica in flight while channels are added (links, callbacks).
ADD_CONCURRENCY = 8
#: Per request while adding (each POST /channels also starts a device flow that keeps polling).
ADD_TIMEOUT_S = 60.0


#: A module of the real workers package that defines a worker (left out of the overlay).
WORKER_CLASS = re.compile(r"^class \w+\((\w+\.)?BaseWorker\)", re.MULTILINE)


def overlay_workers(workdir: Path) -> Path:
    """A directory holding a `workers` package with the bench worker as its only worker:
    every entry of the real package linked in (the contract, models/, helper modules) except
    the modules that define a worker; put it first on the replica's PYTHONPATH."""
    overlay = workdir / "overlay"
    package = overlay / "workers"
    package.mkdir(parents=True)
    for entry in (ROOT / "workers").iterdir():
        if entry.name == "__pycache__":
            continue
        contract = entry.name == "base.py"  # discovery never scans it; its docstring has one
        if entry.suffix == ".py" and not contract and WORKER_CLASS.search(entry.read_text()):
            continue
        (package / entry.name).symlink_to(entry)
    (package / "channels_worker.py").symlink_to(ROOT / "bench" / "channels_worker.py")
    return overlay


class AppCalls:
    """Counts every take() on the app token's bucket (one per Helix call made with it)."""

    def __init__(self, sim: RunningSimulator) -> None:
        self.bucket = sim.state.ratelimits.bucket(sim.client_id, None)
        self.calls = 0
        self.refused = 0
        original = self.bucket.take

        def take(cost: int = 1) -> bool:
            taken = original(cost)
            self.calls += 1
            self.refused += not taken
            return taken

        self.bucket.take = take  # type: ignore[method-assign]

    def reset(self) -> None:
        self.calls = self.refused = 0


@dataclass
class Onboarding:
    channels: int  # added through POST /channels (the default channel comes on top)
    per_minute: int
    add_s: float = 0.0
    expected: int = 0  # subscriptions: (channels + 1) x 5
    elapsed_s: float = 0.0
    calls: int = 0  # app-token Helix calls until every subscription was enabled
    refused: int = 0  # of which answered 429
    failed_status: int = 0  # GET /system/status: subscriptions failed
    failed_sim: int = 0  # expected but not enabled on the conduit at the simulator
    unexpected_sim: int = 0  # on the conduit, enabled, but not expected (nor the 2 extras)
    statuses: dict[str, int] = field(default_factory=dict)
    channel_tags: list[tuple[str, str]] = field(default_factory=list)  # (id, login), added ones

    @property
    def floor_s(self) -> float:
        """The least time the calls can take: the bucket starts full (per_minute points) and
        refills at per_minute a minute, so every charged call beyond the first per_minute
        waits 60 / per_minute seconds."""
        charged = self.calls - self.refused
        return max(0, charged - self.per_minute) * 60.0 / self.per_minute

    @property
    def ratio(self) -> float:
        return self.elapsed_s / self.floor_s if self.floor_s else float("inf")

    @property
    def failures(self) -> int:
        return self.failed_status + self.failed_sim


async def add_channels(
    replica: Replica, sim: RunningSimulator, users: list[dict[str, Any]]
) -> None:
    """Each synthetic user added as a channel through StreamCore's own routes."""
    limit = asyncio.Semaphore(ADD_CONCURRENCY)
    origin = {"Origin": replica.url}

    async def link() -> str:
        async with limit:
            response = await replica.http.post("/channels", headers=origin, timeout=ADD_TIMEOUT_S)
        if response.status_code != 200:
            raise RuntimeError(f"POST /channels: {response.status_code} {response.text}")
        return str(response.json()["auth_url"])

    links = await asyncio.gather(*(link() for _ in users))
    queries: list[str] = []
    async with httpx.AsyncClient(timeout=10) as browser:
        try:
            for user, url in zip(users, links, strict=True):
                steer = await browser.post(
                    f"{sim.control_url}/oauth", json={"authorize_as": user["id"]}
                )
                steer.raise_for_status()
                approval = await browser.get(url, follow_redirects=False)
                if "location" not in approval.headers:
                    raise RuntimeError(f"no approval for {user['login']}: {approval.status_code}")
                queries.append(httpx.URL(approval.headers["location"]).query.decode())
        finally:
            await browser.post(f"{sim.control_url}/oauth", json={"authorize_as": "broadcaster"})

    async def callback(query: str) -> None:
        async with limit:
            done = await replica.http.get(
                f"/tokens/callback?{query}",
                headers={"Accept": "application/json"},
                timeout=ADD_TIMEOUT_S,
            )
        if done.status_code != 200 or done.json().get("status") != "connected":
            raise RuntimeError(f"OAuth callback failed: {done.status_code} {done.text[:200]}")

    await asyncio.gather(*(callback(query) for query in queries))


def expected_keys(channel_ids: list[str]) -> set[tuple[str, str, str]]:
    return {(t, v, channel) for channel in channel_ids for t, v in TYPES}


def enabled_on_conduits(sim: RunningSimulator) -> set[tuple[str, str, str]]:
    """(type, version, broadcaster) of every enabled conduit subscription, read in-process
    (what GET /control/subscriptions lists, without serialising thousands of them)."""
    return {
        (s.type, s.version, str(s.condition.get("broadcaster_user_id")))
        for s in list(sim.state.subscriptions.by_id.values())
        if s.status == "enabled" and s.conduit_id is not None
    }


async def onboard(
    sim: RunningSimulator, env: dict[str, str], workdir: Path, channels: int, per_minute: int
) -> Onboarding:
    result = Onboarding(channels, per_minute)
    async with httpx.AsyncClient(base_url=sim.control_url, timeout=30) as control:
        created = await control.post("/users", json={"count": channels, "prefix": "chan"})
        created.raise_for_status()
        users: list[dict[str, Any]] = created.json()["data"]
        replica = Replica("onboard", free_port(), workdir, env)
        replica.start()
        try:
            await replica.wait_serving()
            await authorize(replica)  # the default channel: the simulator's broadcaster
            began = time.monotonic()
            await add_channels(replica, sim, users)
            result.add_s = time.monotonic() - began
            print(f"[onboarding] added in {result.add_s:.1f} s; POST /system/start", flush=True)
            listed = (await replica.http.get("/channels")).json()
            if len(listed) != channels + 1:
                raise RuntimeError(f"GET /channels lists {len(listed)}, not {channels + 1}")
            result.channel_tags = [(c["id"], c["login"]) for c in listed if not c["default"]]
            wanted = expected_keys([c["id"] for c in listed])
            result.expected = len(wanted)
            counter = AppCalls(sim)
            limited = await control.post("/ratelimit", json={"per_minute": per_minute})
            limited.raise_for_status()  # every bucket starts full at per_minute
            counter.reset()
            began = time.monotonic()
            started = await replica.http.post("/system/start", headers={"Origin": replica.url})
            if started.status_code != 200:
                raise RuntimeError(f"POST /system/start: {started.status_code} {started.text}")

            async def all_enabled() -> bool:
                if not replica.alive:
                    raise RuntimeError(f"the replica exited: {replica.tail()}")
                return wanted <= enabled_on_conduits(sim)

            # Generous: three times the floor of the expected calls, and at least two minutes.
            timeout = max(120.0, 3 * max(0, result.expected - per_minute) * 60 / per_minute)
            await wait_for("every expected subscription enabled", all_enabled, timeout, 0.05)
            result.elapsed_s = time.monotonic() - began
            result.calls, result.refused = counter.calls, counter.refused
            await _count_failures(result, replica, control, wanted, sim.client_id)
            stopped = await replica.http.post("/system/stop", headers={"Origin": replica.url})
            stopped.raise_for_status()
        finally:
            await replica.close()
    return result


async def _count_failures(
    result: Onboarding,
    replica: Replica,
    control: httpx.AsyncClient,
    wanted: set[tuple[str, str, str]],
    client_id: str,
) -> None:
    """Failures as StreamCore reports them, and as the simulator lists the conduit."""

    async def book_complete() -> list[dict[str, Any]] | None:
        status = await replica.status()
        subs: list[dict[str, Any]] = status.get("subscriptions") or []
        return subs if len(subs) >= len(wanted) else None

    subs = await wait_for("the keeper's book in GET /system/status", book_complete, 30, 0.25)
    for sub in subs:
        result.statuses[sub["status"]] = result.statuses.get(sub["status"], 0) + 1
    result.failed_status = result.statuses.get("failed", 0)
    listed = (await control.get("/subscriptions")).json()["data"]
    on_conduit = [s for s in listed if s["transport"].get("method") == "conduit"]
    enabled = {
        (s["type"], s["version"], str(s["condition"].get("broadcaster_user_id")))
        for s in on_conduit
        if s["status"] == "enabled"
    }
    result.failed_sim = len(wanted - enabled)
    extras = {"user.authorization.revoke", "conduit.shard.disabled"}
    result.unexpected_sim = sum(
        1
        for s in on_conduit
        if s["status"] == "enabled"
        and s["type"] not in extras
        and (s["type"], s["version"], str(s["condition"].get("broadcaster_user_id"))) not in wanted
    )
