"""Starting and stopping the live system: the gateway and the worker consumers.

The broadcaster of `/ws/events` runs from start-up (clients may connect and replay before the
system starts); `System.start` adds the parts that talk to Twitch and handle events. Starting
is idempotent and refused with the auth link while authorization is missing; stopping is
graceful: the gateway appends every frame it already received and closes the EventSub socket
(so no new entries arrive), then in-flight handlers finish and ack.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from core.runtime import Runtime
from events.publisher import EventPublisher
from tokens.scopes import check_ready
from workers.base import subscription_types
from workers.registry import Discovery
from workers.runtime import WorkerRuntime

logger = logging.getLogger("streamcore.system")

VERSION = "0.1.0"
#: How long a stop waits for in-flight handlers before cancelling them.
STOP_GRACE_S = 10.0


class System:
    def __init__(
        self, runtime: Runtime, discovery: Discovery, worker_environ: Mapping[str, str]
    ) -> None:
        self._runtime = runtime
        self._discovery = discovery
        self._worker_environ = dict(worker_environ)
        self._lock = asyncio.Lock()
        self.publisher = EventPublisher(runtime.bus, runtime.settings.events_retention_count)

    @property
    def running(self) -> bool:
        return self._runtime.running

    async def start(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body) for `POST /system/start`."""
        async with self._lock:
            runtime = self._runtime
            if runtime.running:
                return 200, {"status": "already_running"}
            assert runtime.tokens is not None
            needed = await check_ready(runtime.tokens)
            if needed is not None:
                return 401, needed
            runtime.workers = WorkerRuntime.from_discovery(
                self._discovery,
                bus=runtime.bus,
                store=runtime.store,
                tasks=runtime.tasks,
                environ=self._worker_environ,
                twitch=runtime.helix,
                publisher=self.publisher,
            )
            await runtime.workers.start()
            from gateway.service import build_gateway

            runtime.gateway = build_gateway(runtime, self._discovery.workers, self.publisher)
            runtime.tasks.spawn("gateway", runtime.gateway.run())
            runtime.running = True
            logger.info("System started")
            return 200, {"status": "started"}

    async def stop(self) -> dict[str, Any]:
        """Graceful stop: the gateway first (no new entries), then the workers drain."""
        async with self._lock:
            runtime = self._runtime
            if not runtime.running:
                return {"status": "not_running"}
            if runtime.gateway is not None:
                await runtime.gateway.stop()
                await runtime.tasks.cancel("gateway")
            if runtime.workers is not None:
                await runtime.workers.stop(STOP_GRACE_S)
            runtime.running = False
            logger.info("System stopped")
            return {"status": "stopped"}

    async def status(self) -> dict[str, Any]:
        runtime = self._runtime
        gateway_status: dict[str, Any] = (
            runtime.gateway.status() if runtime.gateway is not None else {"state": "stopped"}
        )
        if runtime.workers is not None:
            workers = await runtime.workers.status()
        else:
            workers = [
                {"name": cls.name, "types": subscription_types(cls()), "state": "stopped"}
                for cls in self._discovery.workers
            ]
        return {
            "running": runtime.running,
            "version": VERSION,
            "backends": runtime.backends(),
            "auth": await runtime.tokens.fresh_status() if runtime.tokens else {"state": "unknown"},
            "gateway": {k: v for k, v in gateway_status.items() if k != "subscriptions"},
            "subscriptions": gateway_status.get("subscriptions", []),
            "workers": workers,
            "worker_errors": [
                {"source": e.source, "reason": e.reason} for e in self._discovery.errors
            ],
            "clients": runtime.broadcaster.status() if runtime.broadcaster else {"connected": 0},
            "task_failures": dict(runtime.tasks.failures),
        }
