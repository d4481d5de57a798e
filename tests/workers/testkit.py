"""Helpers shared by the workers tests (fixtures live in conftest.py).

`eventually` is the suite's polling helper (tests/polling.py), re-exported here because the
test `streamcore workers new` writes for a new worker imports it from this module.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from bus import Bus
from core.constants import EVENTSUB_STREAM
from core.tasks import TaskSupervisor
from tests.polling import eventually
from worker_runtime.consumer import ConsumerOptions
from worker_runtime.runtime import WorkerRuntime
from workers.base import BaseWorker

#: Quick tuning for tests: short reads and backoffs, claims checked often.
FAST = ConsumerOptions(
    block_ms=100, claim_interval_s=0.2, bus_backoff_base_s=0.01, bus_backoff_cap_s=0.05
)

__all__ = [
    "FAST",
    "append_event",
    "captured_events",
    "eventually",
    "running_workers",
    "wait_running",
]


async def append_event(
    bus: Bus,
    event_type: str,
    event: dict[str, Any],
    version: str = "1",
    message_id: str | None = None,
) -> str:
    """Write one notification the way the gateway does."""
    payload = {
        "subscription": {
            "id": str(uuid.uuid4()),
            "type": event_type,
            "version": version,
            "status": "enabled",
            "condition": {},
            "transport": {"method": "websocket", "session_id": "test"},
            "created_at": "2026-01-01T00:00:00Z",
            "cost": 0,
        },
        "event": event,
    }
    return await bus.append(
        EVENTSUB_STREAM.format(type=event_type),
        {
            "message_id": message_id or str(uuid.uuid4()),
            "message_timestamp": "2026-01-01T00:00:00Z",
            "subscription_type": event_type,
            "subscription_version": version,
            "payload": json.dumps(payload),
        },
        maxlen=10_000,
    )


@asynccontextmanager
async def running_workers(
    bus: Bus,
    store: Any,
    workers: Sequence[type[BaseWorker]],
    **kwargs: Any,
) -> AsyncIterator[WorkerRuntime]:
    """A started runtime whose loops have created their groups; stopped afterwards."""
    kwargs.setdefault("options", FAST)
    async with TaskSupervisor() as tasks:
        runtime = WorkerRuntime(bus=bus, store=store, workers=workers, tasks=tasks, **kwargs)
        await runtime.start()
        try:
            await wait_running(runtime)
            yield runtime
        finally:
            await runtime.stop(grace_s=2.0)


async def wait_running(runtime: WorkerRuntime) -> None:
    states: list[str] = []

    def all_running() -> bool:
        states[:] = [runtime._running[n].consumer.stats.state for n in runtime.worker_names]
        return all(state == "running" for state in states)

    try:
        await eventually(all_running, what="every worker loop running")
    except AssertionError as error:
        raise AssertionError(f"{error}; states {states}") from error


@asynccontextmanager
async def captured_events(bus: Bus) -> AsyncIterator[list[dict[str, Any]]]:
    """Every envelope published to events:* while the block runs, decoded."""
    received: list[dict[str, Any]] = []
    async with bus.psubscribe("events:*") as subscription:

        async def pump() -> None:
            async for message in subscription:
                received.append(json.loads(message.data))

        pumping = asyncio.create_task(pump())
        try:
            yield received
        finally:
            pumping.cancel()
            await asyncio.gather(pumping, return_exceptions=True)
