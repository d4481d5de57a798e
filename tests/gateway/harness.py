"""A gateway wired to the simulator and a real bus, the way the system API builds it.

`running_gateway(sim, bus, tmp_path, wanted=...)` yields a started `GatewayRun`; tests drive
the simulator through its control API and read `eventsub:*` like a worker would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bus import Bus
from core.constants import EVENTS_LOG_STREAM, EVENTSUB_STREAM
from db_infrastructure.sqlite import SQLiteStore
from events.publisher import EventPublisher
from gateway.service import Gateway, GatewayOptions
from tests.polling import eventually
from tests.tokens.conftest import make_manager, seed_token, settings_for
from tokens.helix import HelixClient
from tokens.manager import TokenManager

Wanted = Callable[[str, str], list[dict[str, Any]]]


def follow_and_cheer(broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "channel.follow",
            "version": "2",
            "condition": {"broadcaster_user_id": broadcaster_id, "moderator_user_id": moderator_id},
        },
        {
            "type": "channel.cheer",
            "version": "1",
            "condition": {"broadcaster_user_id": broadcaster_id},
        },
    ]


def fast_options(**overrides: Any) -> GatewayOptions:
    """Short timers so reconnect scenarios finish in seconds (the simulator allows 1 s+)."""
    values: dict[str, Any] = {
        "keepalive_timeout_s": 2,
        "keepalive_margin_s": 1.0,
        "welcome_timeout_s": 5.0,
        "reconnect_base_s": 0.05,
        "reconnect_cap_s": 0.5,
        "retry_base_s": 0.1,
        "retry_cap_s": 0.5,
    }
    values.update(overrides)
    return GatewayOptions(**values)


async def control(sim: Any, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(f"{sim.http_url}/control/{path}", json=body or {})
        response.raise_for_status()
        return response.json() if response.content else {}


async def stream_message_ids(bus: Bus, sub_type: str) -> list[str]:
    """What a consumer of eventsub:{type} sees, in order."""
    entries = await bus.read_range(EVENTSUB_STREAM.format(type=sub_type))
    return [entry.fields["message_id"] for entry in entries]


async def emitted(bus: Bus, name: str) -> list[dict[str, Any]]:
    import json

    entries = await bus.read_range(EVENTS_LOG_STREAM)
    return [json.loads(e.fields["data"]) for e in entries if e.fields["event"] == name]


@dataclass
class GatewayRun:
    gateway: Gateway
    tokens: TokenManager
    sim: Any
    bus: Bus
    task: asyncio.Task[None]
    gateway_store: SQLiteStore
    sessions_seen: list[str] = field(default_factory=list)

    @property
    def session_id(self) -> str:
        session_id = self.gateway.protocol.session_id
        assert session_id is not None
        return session_id

    async def wait_subscribed(self, count: int, within_s: float = 10.0) -> str:
        """Wait until `count` subscriptions are enabled on an open session; its id."""

        def ready() -> bool:
            sid = self.gateway.protocol.session_id
            return (
                self.gateway.state == "connected"
                and sid is not None
                and len(self.sim.state.subscriptions.enabled_on(sid)) >= count
                and self.gateway.subscriptions.enabled_count() >= count
            )

        await eventually(ready, within_s=within_s, what=f"{count} subscriptions enabled")
        return self.session_id

    async def trigger(self, sub_type: str, count: int = 1, **options: Any) -> list[str]:
        result = await self.sim.trigger(sub_type, count=count, **options)
        return list(result["message_ids"])

    async def wait_stream(self, sub_type: str, count: int, within_s: float = 10.0) -> list[str]:
        async def enough() -> bool:
            return len(await stream_message_ids(self.bus, sub_type)) >= count

        await eventually(enough, within_s=within_s, what=f"{count} entries in eventsub:{sub_type}")
        return await stream_message_ids(self.bus, sub_type)


@asynccontextmanager
async def running_gateway(
    sim: Any,
    bus: Bus,
    tmp_path: Path,
    wanted: Wanted = follow_and_cheer,
    scopes: list[str] | None = None,
    options: GatewayOptions | None = None,
    http_hooks: list[Any] | None = None,
    start: bool = True,
) -> AsyncIterator[GatewayRun]:
    settings = settings_for(sim, tmp_path, twitch_eventsub_ws_url=sim.ws_url)
    store = SQLiteStore(tmp_path / "gateway.db")
    await store.connect()
    hooks = {"request": http_hooks or []}
    async with httpx.AsyncClient(timeout=10, event_hooks=hooks) as http:
        granted = scopes if scopes is not None else list(sim.users["broadcaster"].default_scopes)
        await seed_token(sim, store, granted)
        tokens = make_manager(settings, store, bus, http)
        await tokens.start()
        helix = HelixClient(settings, tokens, http)
        gateway = Gateway(
            settings, bus, tokens, helix, EventPublisher(bus), wanted,
            options=options or fast_options(),
        )  # fmt: skip
        task = asyncio.create_task(gateway.run() if start else asyncio.sleep(0))
        try:
            yield GatewayRun(gateway, tokens, sim, bus, task, store)
        finally:
            await gateway.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await store.close()
