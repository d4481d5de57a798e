"""Two real `streamcore run` replicas on one Redis and one PostgreSQL schema, against the
simulator: one EventSub session for the cluster (no fight over subscriptions), a takeover
after SIGKILL announced as a gap, a cluster-wide stop and start from either replica, a
restart that resumes the desired state, a refused duplicate replica id; and the gateway
repairing a subscription deleted from outside (in-process, with the gateway harness).

The replicas (ids `a` and `b`, STREAMCORE_LEASE_S=2) are shared by the tests of this module
(one event loop for the module); each test first brings the cluster to the state it needs,
so any of them also runs alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from bus.memory import MemoryBus
from tests.cluster.replica_harness import (
    LEASE_S,
    START_S,
    WAIT_S,
    Cluster,
    EventsClient,
    HeldRedis,
    Replica,
    cluster_backends,
    follow_arrives_once,
    logs_on_failure,
    parse_iso,
    until,
)
from tests.gateway.harness import emitted, fast_options, running_gateway
from tests.polling import eventually

pytestmark = pytest.mark.slow  # `streamcore run` subprocesses, Redis, PostgreSQL, the simulator

in_cluster_loop = pytest.mark.asyncio(loop_scope="module")
#: What `system.gateway` carries once a session is subscribed.
SUBSCRIBED = {"state": "connected", "reason": "subscribed"}
#: The longest a takeover may take: the lease's TTL plus a generous margin for a busy machine
#: (the lease expires within LEASE_S of the last renewal; the survivor retries every LEASE_S/5).
TAKEOVER_LIMIT_S = 4 * LEASE_S
#: How long the cluster is watched for a fight over the subscriptions: three lease periods.
WATCH_S = 3 * LEASE_S


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    async with cluster_backends(tmp_path_factory.mktemp("cluster")) as running:
        await running.ensure_up("a", "b")
        yield running


async def ensure_running(cluster: Cluster) -> tuple[Replica, Replica]:
    """Both replicas up, authorized, the system started and subscribed; (coordinator, other)."""
    await cluster.ensure_up("a", "b")
    a = cluster.replicas["a"]
    await cluster.ensure_authorized(a)
    if (await a.status())["desired"] != "running":
        started = await a.post("/system/start")
        assert started.status_code == 200, started.text
    await cluster.running_everywhere(True)
    coordinator = await cluster.coordinator()
    await cluster.wait_subscribed(coordinator)
    other = next(r for r in cluster.live() if r is not coordinator)
    return coordinator, other


async def one_subscribed_session(cluster: Cluster, enabled: int) -> dict[str, Any]:
    """The simulator's only connected session, once it holds `enabled` subscriptions."""

    async def settled() -> dict[str, Any] | None:
        connected = await cluster.connected_sessions()
        if len(connected) == 1 and connected[0]["subscriptions"] == enabled:
            return connected[0]
        return None

    return await until(
        settled, within_s=WAIT_S, what=f"one connected session with {enabled} subscriptions"
    )


def enabled_count(status: dict[str, Any]) -> int:
    return sum(s["status"] == "enabled" for s in status["subscriptions"])


# -- 1. one session for the cluster -------------------------------------------------------------


@in_cluster_loop
async def test_1_started_on_one_replica_the_cluster_runs_one_session_without_a_fight(
    cluster: Cluster,
) -> None:
    with logs_on_failure(cluster):
        await cluster.ensure_up("a", "b")
        a, b = cluster.replicas["a"], cluster.replicas["b"]
        await cluster.ensure_authorized(a)
        started = await a.post("/system/start")  # replica A only
        assert started.status_code == 200, started.text
        assert started.json()["status"] in ("started", "already_running")

        statuses = await cluster.running_everywhere(True)
        assert set(statuses) == {"a", "b"}
        coordinator = await cluster.coordinator()
        other = b if coordinator is a else a
        status = await cluster.wait_subscribed(coordinator)
        assert (await other.status())["gateway"]["state"] == "standby"
        session = await one_subscribed_session(cluster, enabled_count(status))
        before = {s["id"]: s["status"] for s in await cluster.subscriptions()}
        assert before and set(before.values()) == {"enabled"}, before
        sessions_before = len(await cluster.sessions())

        client = await EventsClient.open(other, "alert.follow,system.gateway")
        try:
            # A fight shows within a lease period or two: a second session, subscriptions
            # deleted or disabled, the coordinator changing hands. Watch three.
            problems: list[str] = []
            deadline = time.monotonic() + WATCH_S
            while time.monotonic() < deadline:
                connected = await cluster.connected_sessions()
                if [s["id"] for s in connected] != [session["id"]]:
                    problems.append(f"connected sessions: {connected}")
                subs = {s["id"]: s["status"] for s in await cluster.subscriptions()}
                if subs != before:
                    problems.append(f"subscriptions changed: {before} -> {subs}")
                flags = {
                    r: s["cluster"]["is_coordinator"] for r, s in (await cluster.statuses()).items()
                }
                if flags != {coordinator.replica_id: True, other.replica_id: False}:
                    problems.append(f"coordinator flags: {flags}")
                await asyncio.sleep(0.25)
            assert not problems, problems[:5]
            assert len(await cluster.sessions()) == sessions_before, await cluster.sessions()
            assert (await cluster.coordinator()) is coordinator

            # An event reaches a client of the replica that does not hold the session, once.
            await follow_arrives_once(cluster, client, "fight-check")
        finally:
            await client.close()


# -- 2. takeover ---------------------------------------------------------------------------------


@in_cluster_loop
async def test_2_when_the_coordinator_is_killed_the_other_replica_takes_over_and_announces_the_gap(
    cluster: Cluster,
) -> None:
    with logs_on_failure(cluster):
        coordinator, survivor = await ensure_running(cluster)
        old_session = (
            await one_subscribed_session(cluster, enabled_count(await coordinator.status()))
        )["id"]
        client = await EventsClient.open(survivor, "alert.follow,system.gateway")
        try:
            killed_at = time.time()
            started = time.monotonic()
            await coordinator.kill()

            async def took_over() -> bool:
                return bool((await survivor.status())["cluster"]["is_coordinator"])

            await eventually(
                took_over,
                within_s=TAKEOVER_LIMIT_S + 10,  # measured below against the limit
                ignoring=(httpx.HTTPError,),
                what=f"replica {survivor.replica_id} becoming the coordinator",
                interval_s=0.05,
            )
            takeover_s = time.monotonic() - started  # printed: `pytest -s` or `-rP` shows it
            print(f"takeover after SIGKILL: {takeover_s:.2f} s (lease {LEASE_S:g} s)")
            assert takeover_s <= TAKEOVER_LIMIT_S, f"takeover took {takeover_s:.2f} s"

            status = await cluster.wait_subscribed(survivor)
            new_session = await one_subscribed_session(cluster, enabled_count(status))
            assert new_session["id"] != old_session
            subscribed_s = time.monotonic() - started
            print(f"SIGKILL to the survivor's session subscribed: {subscribed_s:.2f} s")

            def gaps() -> list[dict[str, Any]]:
                return [e for e in client.named("system.gateway") if e["data"]["state"] == "gap"]

            await eventually(gaps, within_s=WAIT_S, what="a system.gateway gap event")
            [gap] = gaps()
            since, ended = parse_iso(gap["data"]["since"]), parse_iso(gap["data"]["until"])
            # `since` is the dead session's last record (at most a keepalive interval before
            # the kill); `until` is when the survivor's session got subscribed.
            assert since <= killed_at + 0.5, gap
            assert killed_at <= ended <= time.time() + 0.5, gap

            await follow_arrives_once(cluster, client, "after-takeover")

            async def dead_one_gone() -> dict[str, Any] | None:
                body = (await survivor.status())["cluster"]
                members = {m["id"]: m for m in body["replicas"]}
                dead, me = members.get(coordinator.replica_id), members.get(survivor.replica_id)
                if dead is not None and not dead["alive"] and me is not None and me["alive"]:
                    return body
                return None

            body = await until(
                dead_one_gone, within_s=WAIT_S, what="the killed replica shown alive: false"
            )
            assert body["is_coordinator"] is True
            assert body["coordinator"]["replica_id"] == survivor.replica_id
            assert next(m for m in body["replicas"] if m["self"])["id"] == survivor.replica_id
        finally:
            await client.close()


# -- 3. cluster-wide stop and start -------------------------------------------------------------


@in_cluster_loop
async def test_3_stop_and_start_on_the_non_coordinator_apply_to_the_whole_cluster(
    cluster: Cluster,
) -> None:
    with logs_on_failure(cluster):
        coordinator, other = await ensure_running(cluster)
        await one_subscribed_session(cluster, enabled_count(await coordinator.status()))
        client = await EventsClient.open(other, "system.gateway")
        try:
            stopped = await other.post("/system/stop")
            assert (stopped.status_code, stopped.json()) == (200, {"status": "stopped"})

            async def no_session() -> bool:
                return not await cluster.connected_sessions()

            await eventually(no_session, within_s=WAIT_S, what="the EventSub session closed")
            statuses = await cluster.running_everywhere(False)
            assert {s["gateway"]["state"] for s in statuses.values()} == {"stopped"}, statuses

            started = await other.post("/system/start")
            assert (started.status_code, started.json()) == (200, {"status": "started"})
            await cluster.running_everywhere(True)
            new_coordinator = await cluster.coordinator()
            status = await cluster.wait_subscribed(new_coordinator)
            await one_subscribed_session(cluster, enabled_count(status))
            # A requested stop is no outage: no gap is announced after the start. A gap would
            # be emitted just before the session's "subscribed" event, so once that arrived:
            await eventually(
                lambda: [
                    e
                    for e in client.named("system.gateway")
                    if SUBSCRIBED.items() <= e["data"].items()
                ],
                within_s=WAIT_S,
                what="the new session's system.gateway subscribed event",
            )
            gaps = [e for e in client.named("system.gateway") if e["data"]["state"] == "gap"]
            assert not gaps, gaps
        finally:
            await client.close()


# -- 4. a restart resumes ------------------------------------------------------------------------


async def assert_resumed(cluster: Cluster, restarted: Replica, started: float) -> None:
    """`restarted` runs again under its own id with nobody calling /system/start, and the
    cluster is back to one subscribed session."""

    async def resumed() -> dict[str, Any] | None:
        status = await restarted.status()
        return status if status["running"] is True else None

    status = await until(
        resumed,
        within_s=WAIT_S,
        ignoring=(httpx.HTTPError,),
        what=f"restarted replica {restarted.replica_id} running",
    )
    took = time.monotonic() - started
    print(f"replica {restarted.replica_id} restarted to running in {took:.2f} s")
    assert status["desired"] == "running"
    assert status["cluster"]["replica_id"] == restarted.replica_id
    me = next(m for m in status["cluster"]["replicas"] if m["self"])
    assert me["id"] == restarted.replica_id and me["alive"] is True
    assert status["workers"] and all(w["state"] != "stopped" for w in status["workers"])
    await cluster.running_everywhere(True)
    coordinator = await cluster.coordinator()
    status = await cluster.wait_subscribed(coordinator)
    await one_subscribed_session(cluster, enabled_count(status))


@in_cluster_loop
async def test_4_a_restarted_replica_resumes_the_desired_state_under_its_own_id(
    cluster: Cluster,
) -> None:
    with logs_on_failure(cluster):
        coordinator, other = await ensure_running(cluster)
        await other.kill()

        async def shown_gone() -> bool:
            members = (await coordinator.status())["cluster"]["replicas"]
            return any(m["id"] == other.replica_id and not m["alive"] for m in members)

        # A restart slower than the heartbeat's window (3 s; test_4b covers a prompt one).
        await eventually(shown_gone, within_s=WAIT_S, what=f"{other.replica_id} shown gone")
        started = time.monotonic()
        restarted = await cluster.start(other.replica_id)
        await assert_resumed(cluster, restarted, started)


@in_cluster_loop
async def test_4b_a_replica_restarted_at_once_after_sigkill_resumes_under_its_own_id(
    cluster: Cluster,
) -> None:
    with logs_on_failure(cluster):
        _, other = await ensure_running(cluster)
        replica_id = other.replica_id
        held = HeldRedis(cluster.env["REDIS_URL"])
        await held.open()
        # The replacement starts now, imports everything, then waits on its first Redis
        # command: released right after the SIGKILL, it claims its id within milliseconds,
        # as a supervisor's prompt restart does, whatever this machine's start-up time.
        replacement = cluster.launch(replica_id, REDIS_URL=held.url)
        try:
            await eventually(
                lambda: held.waiting > 0 or not replacement.alive,
                within_s=START_S,
                what="the replacement connecting to Redis",
            )
            assert replacement.alive, replacement.tail()
            await other.kill()
            held.release()
            started = time.monotonic()
            cluster.replicas[replica_id] = replacement
            await cluster.wait_serving(replacement)
            await assert_resumed(cluster, replacement, started)
        finally:
            # Its Redis goes through `held`: the next test starts a plain replica instead.
            await replacement.terminate()
            await held.close()


# -- 5. a duplicate replica id -------------------------------------------------------------------


@in_cluster_loop
async def test_5_a_second_process_with_a_live_replica_id_exits_with_one_clear_line(
    cluster: Cluster,
) -> None:
    with logs_on_failure(cluster):
        await cluster.ensure_up("a")
        duplicate = cluster.launch("a")
        code = await duplicate.wait_exited(45)
        output = duplicate.tail(20_000)
        assert code != 0, output
        assert "Traceback" not in output, output
        lines = [line for line in output.splitlines() if "STREAMCORE_REPLICA_ID" in line]
        assert len(lines) == 1, output
        assert "STREAMCORE_REPLICA_ID=a " in lines[0], lines
        # The live replica keeps its id.
        assert cluster.replicas["a"].alive
        assert (await cluster.replicas["a"].status())["cluster"]["replica_id"] == "a"


# -- 6. subscription repair (in-process) ---------------------------------------------------------


async def test_6_a_subscription_deleted_outside_is_repaired_with_a_new_id_and_delivers(
    tmp_path: Path,
) -> None:
    from simulator.testing import run_simulator

    bus = MemoryBus()
    await bus.connect()
    try:
        async with (
            run_simulator(min_keepalive_s=1, reconnect_grace_s=5) as sim,
            running_gateway(sim, bus, tmp_path, options=fast_options(repair_interval_s=0.5)) as run,
        ):
            session_id = await run.wait_subscribed(2)

            def follow_entry() -> dict[str, Any]:
                return next(
                    s for s in run.gateway.subscriptions.public() if s["type"] == "channel.follow"
                )

            old_id = follow_entry()["twitch_id"]
            assert old_id
            token = await run.tokens.access_token()
            async with httpx.AsyncClient(timeout=10) as http:
                deleted = await http.delete(
                    f"{sim.api_url}/eventsub/subscriptions",
                    params={"id": old_id},
                    headers={"Authorization": f"Bearer {token}", "Client-Id": sim.client_id},
                )
            assert deleted.status_code == 204, deleted.text

            repaired = await eventually(
                lambda: emitted(bus, "system.subscription.repaired"),
                within_s=10,
                what="a system.subscription.repaired event",
            )
            assert [r["type"] for r in repaired] == ["channel.follow"], repaired

            async def enabled_again() -> dict[str, Any] | None:
                entry = follow_entry()
                ok = entry["status"] == "enabled" and entry["twitch_id"] not in (None, old_id)
                return entry if ok else None

            entry = await until(enabled_again, within_s=10, what="channel.follow enabled")
            live = {s.id for s in sim.state.subscriptions.enabled_on(session_id)}
            assert entry["twitch_id"] in live and old_id not in live
            assert run.gateway.status()["repairs"] == 1

            sent = await run.trigger("channel.follow")
            assert await run.wait_stream("channel.follow", 1) == sent
    finally:
        await bus.close()
