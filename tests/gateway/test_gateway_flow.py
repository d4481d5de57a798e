"""End to end against the simulator and real Redis: what a consumer of eventsub:* sees."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bus.redis import RedisBus
from tests.gateway.harness import control, emitted, fast_options, running_gateway
from tests.polling import eventually


async def test_events_reach_the_stream_once_in_order(
    sim: Any, redis_bus: RedisBus, tmp_path: Path
) -> None:
    async with running_gateway(sim, redis_bus, tmp_path) as run:
        await run.wait_subscribed(2)
        sent = await run.trigger("channel.follow", count=5)
        assert await run.wait_stream("channel.follow", 5) == sent
        entry = (await redis_bus.read_range("eventsub:channel.follow"))[0]
        assert set(entry.fields) == {
            "message_id",
            "message_timestamp",
            "subscription_type",
            "subscription_version",
            "payload",
        }
        status = run.gateway.status()
        assert status["state"] == "connected" and status["session_id"] == run.session_id
        assert {s["status"] for s in status["subscriptions"]} == {"enabled"}
        assert status["received"] == {"channel.follow": 5}


async def test_reconnect_with_overlap_delivers_each_message_once(
    sim: Any, redis_bus: RedisBus, tmp_path: Path
) -> None:
    async with running_gateway(sim, redis_bus, tmp_path) as run:
        old = await run.wait_subscribed(2)
        before = await run.trigger("channel.follow", count=3)
        await control(sim, f"sessions/{old}/reconnect")
        # Sent on the old socket during the overlap: the simulator re-sends these on the new
        # socket after its welcome, with the same message ids (the duplicate window).
        during = await run.trigger("channel.follow", count=3)
        await eventually(lambda: run.gateway.protocol.session_id not in (None, old), what="move")
        new = run.session_id
        after = await run.trigger("channel.follow", count=3)
        seen = await run.wait_stream("channel.follow", 9)
        assert seen == before + during + after
        await eventually(lambda: not sim.state.sessions[old].is_open, what="old socket closed")
        assert sim.state.sessions[old].close_code != 4004
        assert len(sim.state.subscriptions.enabled_on(new)) == 2
        assert run.gateway.deduplicated["channel.follow"] == 3
        assert run.gateway.reconnects == {}


@pytest.mark.parametrize("code", [4000, 4001, 4002, 4003, 4004, 4005, 4006, 4007])
async def test_close_code_reconnects_to_base_url_and_resubscribes(
    sim: Any, redis_bus: RedisBus, tmp_path: Path, code: int
) -> None:
    async with running_gateway(sim, redis_bus, tmp_path) as run:
        old = await run.wait_subscribed(2)
        before = await run.trigger("channel.follow", count=2)
        await run.wait_stream("channel.follow", 2)
        await control(sim, f"sessions/{old}/close", {"code": code})
        await eventually(lambda: run.gateway.reconnects[f"close_{code}"] == 1, what="reconnect")
        new = await run.wait_subscribed(2)
        assert new != old
        after = await run.trigger("channel.follow", count=2)
        assert await run.wait_stream("channel.follow", 4) == before + after
        # Twitch's close codes are logged with their cause; the socket is not hot-looping.
        assert sum(run.gateway.reconnects.values()) == 1


@pytest.mark.parametrize("control_path", ["keepalives", "silence"])
async def test_a_quiet_socket_is_replaced_and_resubscribed(
    sim: Any, redis_bus: RedisBus, tmp_path: Path, control_path: str
) -> None:
    async with running_gateway(sim, redis_bus, tmp_path) as run:
        old = await run.wait_subscribed(2)
        body = {"paused": True} if control_path == "keepalives" else {"silent": True}
        await control(sim, f"sessions/{old}/{control_path}", body)
        await eventually(lambda: run.gateway.reconnects["keepalive_timeout"] >= 1, what="watchdog")
        new = await run.wait_subscribed(2)
        assert new != old
        sent = await run.trigger("channel.cheer", count=3)
        assert await run.wait_stream("channel.cheer", 3) == sent
        states = [e["state"] for e in await emitted(redis_bus, "system.gateway")]
        assert "reconnecting" in states and states[-1] == "connected"


async def test_network_loss_reconnects(sim: Any, redis_bus: RedisBus, tmp_path: Path) -> None:
    async with running_gateway(sim, redis_bus, tmp_path) as run:
        await run.wait_subscribed(2)
        for sock in list(run.gateway._sockets.values()):
            sock._connection.transport.abort()  # the TCP connection drops, no close frame
        await eventually(lambda: run.gateway.reconnects["network"] == 1, what="reconnect")
        await run.wait_subscribed(2)
        sent = await run.trigger("channel.follow")
        assert await run.wait_stream("channel.follow", 1) == sent


@pytest.mark.parametrize(
    "status",
    [
        "authorization_revoked",
        "user_removed",
        "version_removed",
        "moderator_removed",
        "chat_user_banned",
        "beta_maintenance",
    ],
)
async def test_revocation_marks_the_subscription_and_emits(
    sim: Any, redis_bus: RedisBus, tmp_path: Path, status: str
) -> None:
    async with running_gateway(sim, redis_bus, tmp_path) as run:
        await run.wait_subscribed(2)
        follow = next(
            s for s in run.gateway.status()["subscriptions"] if s["type"] == "channel.follow"
        )
        await control(sim, f"subscriptions/{follow['twitch_id']}/revoke", {"status": status})

        async def revoked_event() -> bool:
            return bool(await emitted(redis_bus, "system.subscription.revoked"))

        await eventually(revoked_event, what="system.subscription.revoked")
        [event] = await emitted(redis_bus, "system.subscription.revoked")
        assert event["type"] == "channel.follow" and event["status"] == status
        follow = next(
            s for s in run.gateway.status()["subscriptions"] if s["type"] == "channel.follow"
        )
        assert follow["status"] == "revoked" and follow["reason"] == status
        expected = "auth_required" if status == "authorization_revoked" else "ok"
        assert run.tokens.state == expected
        # The other subscription still delivers.
        sent = await run.trigger("channel.cheer")
        assert await run.wait_stream("channel.cheer", 1) == sent


async def test_duplicate_message_id_is_appended_once(
    sim: Any, redis_bus: RedisBus, tmp_path: Path
) -> None:
    async with running_gateway(sim, redis_bus, tmp_path) as run:
        await run.wait_subscribed(2)
        sent = await run.trigger("channel.follow", count=2)
        await control(sim, "duplicate", {"message_id": sent[0]})
        await control(sim, "duplicate", {})
        marker = await run.trigger("channel.follow")
        assert await run.wait_stream("channel.follow", 3) == sent + marker
        await eventually(lambda: run.gateway.deduplicated["channel.follow"] == 2, what="dedupe")


async def test_stale_message_is_dropped(sim: Any, redis_bus: RedisBus, tmp_path: Path) -> None:
    async with running_gateway(sim, redis_bus, tmp_path) as run:
        await run.wait_subscribed(2)
        await control(sim, "stale", {"type": "channel.follow"})
        fresh = await run.trigger("channel.follow")
        assert await run.wait_stream("channel.follow", 1) == fresh
        assert run.gateway.dropped["channel.follow"] == 1


async def test_oversized_frame_costs_one_reconnect_not_the_gateway(
    sim: Any, redis_bus: RedisBus, tmp_path: Path
) -> None:
    options = fast_options(max_frame_bytes=4096)
    async with running_gateway(sim, redis_bus, tmp_path, options=options) as run:
        await run.wait_subscribed(2)
        await run.trigger("channel.cheer", event={"message": "Cheer1 " + "x" * 10_000})
        await eventually(lambda: run.gateway.reconnects["network"] == 1, what="reconnect")
        await run.wait_subscribed(2)
        sent = await run.trigger("channel.cheer")
        assert await run.wait_stream("channel.cheer", 1) == sent


async def test_a_stop_is_not_a_lost_connection(
    sim: Any, redis_bus: RedisBus, tmp_path: Path
) -> None:
    # A long back-off: a stop that waited it out would not return before the test's bound.
    options = fast_options(reconnect_base_s=30.0, reconnect_cap_s=30.0)
    async with running_gateway(sim, redis_bus, tmp_path, options=options) as run:
        await run.wait_subscribed(2)
        await asyncio.wait_for(run.gateway.stop(), 10)
        await asyncio.wait_for(run.task, 10)
        assert run.gateway.reconnects == {}
        states = [e["state"] for e in await emitted(redis_bus, "system.gateway")]
        assert "reconnecting" not in states
        assert states[-1] == "disconnected"


async def test_each_planned_handover_is_announced_and_counted(
    sim: Any, redis_bus: RedisBus, tmp_path: Path
) -> None:
    async with running_gateway(sim, redis_bus, tmp_path) as run:
        first = await run.wait_subscribed(2)
        sessions = [first]
        for _ in range(2):  # two session_reconnects in a row
            await control(sim, f"sessions/{sessions[-1]}/reconnect")
            await eventually(
                lambda: run.gateway.protocol.session_id not in sessions, what="the move"
            )
            sessions.append(run.session_id)

        async def announced() -> list[dict[str, Any]]:
            events = await emitted(redis_bus, "system.gateway")
            return [e for e in events if e.get("reason") == "reconnected"]

        moves = await eventually(lambda: _at_least(announced(), 2), what="both moves announced")
        assert [move["session_id"] for move in moves] == sessions[1:]
        assert run.gateway.handovers == 2
        assert run.gateway.status()["handovers"] == 2
        assert run.gateway.reconnects == {}


async def _at_least(items: Any, count: int) -> list[Any] | None:
    found = await items
    return found if len(found) >= count else None
