"""Starting and stopping the live system: the gateway and the worker consumers.

The broadcaster of `/ws/events` runs from start-up (clients may connect and replay before the
system starts); `System.start` adds the parts that talk to Twitch and handle events. Starting
is idempotent and refused with `AuthRequired` (carrying the auth link) while authorization is
missing; stopping is graceful: the gateway appends every frame it already received and closes
the EventSub socket (so no new entries arrive), then in-flight handlers finish and ack.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from importlib.metadata import version
from typing import Any, TypeVar

from bus import Bus
from core.errors import StreamCoreError
from core.settings import Settings
from core.tasks import TaskSupervisor
from db_infrastructure import Store
from events.publisher import EventPublisher
from gateway.service import Gateway
from tokens.helix import HelixClient
from tokens.manager import TokenManager
from tokens.readiness import require_ready
from worker_runtime.contract import subscription_types
from worker_runtime.discovery import Discovery
from worker_runtime.runtime import DEFAULT_STOP_GRACE_S, WorkerRuntime

__all__ = ["VERSION", "System"]

logger = logging.getLogger("streamcore.system")

#: The installed package's version, as pyproject.toml declares it.
VERSION = version("streamcore")
#: Longest a status read waits for one part (worker lag, the token store): a paused Redis
#: must not make GET /system/status hang with it.
STATUS_PART_TIMEOUT_S = 1.5

T = TypeVar("T")


class System:
    """The gateway and the workers of this process, started and stopped together."""

    def __init__(
        self,
        *,
        settings: Settings,
        bus: Bus,
        store: Store,
        tasks: TaskSupervisor,
        tokens: TokenManager,
        helix: HelixClient,
        discovery: Discovery,
        publisher: EventPublisher,
        worker_environ: Mapping[str, str],
    ) -> None:
        self._settings = settings
        self._bus = bus
        self._store = store
        self._tasks = tasks
        self._tokens = tokens
        self._helix = helix
        self._discovery = discovery
        self._publisher = publisher
        self._worker_environ = dict(worker_environ)
        #: STREAMCORE_RUN_WORKERS=false: this process runs the gateway only, and the workers
        #: run in processes of their own (`streamcore workers run`).
        self._run_workers = settings.streamcore_run_workers
        self._lock = asyncio.Lock()
        self.running = False
        self.gateway: Gateway | None = None
        self.workers: WorkerRuntime | None = None

    def worker_runtime(self, consumer_name: str | None = None) -> WorkerRuntime:
        """The discovered workers on this process's bus, store and Helix client (not started)."""
        return WorkerRuntime.from_discovery(
            self._discovery,
            bus=self._bus,
            store=self._store,
            tasks=self._tasks,
            environ=self._worker_environ,
            twitch=self._helix,
            publisher=self._publisher,
            consumer_name=consumer_name,
        )

    def build_gateway(self) -> Gateway:
        """The EventSub gateway, subscribing to what the discovered workers want (not started)."""
        return Gateway(
            self._settings,
            self._bus,
            self._tokens,
            self._helix,
            self._publisher,
            self._discovery.wanted_subscriptions,
        )

    async def start(self) -> str:
        """Start the workers, then the gateway: "started", or "already_running".

        Raises `tokens.errors.AuthRequired` (with the auth link) while authorization is missing.
        """
        async with self._lock:
            if self.running:
                return "already_running"
            await require_ready(self._tokens)
            if self._run_workers:
                self.workers = self.worker_runtime()
                await self.workers.start()
            else:
                logger.info("Workers run elsewhere (STREAMCORE_RUN_WORKERS=false)")
            self.gateway = self.build_gateway()
            self._tasks.spawn("gateway", self.gateway.run())
            self.running = True
            logger.info("System started")
            return "started"

    async def stop(self) -> str:
        """Graceful stop: the gateway first (no new entries), then the workers drain."""
        async with self._lock:
            if not self.running:
                return "not_running"
            if self.gateway is not None:
                await self.gateway.stop()
                await self._tasks.cancel("gateway")
            if self.workers is not None:
                await self.workers.stop(DEFAULT_STOP_GRACE_S)
            self.running = False
            logger.info("System stopped")
            return "stopped"

    async def status(self) -> dict[str, Any]:
        """Everything about the live system. Each part that needs Redis or the database
        answers within STATUS_PART_TIMEOUT_S or is reported `unavailable` with the reason, so
        the status stays readable while a backend is down or paused."""
        gateway_status: dict[str, Any] = (
            self.gateway.status() if self.gateway is not None else {"state": "stopped"}
        )
        stopped = [
            {"name": cls.name, "types": subscription_types(cls()), "state": "stopped"}
            for cls in self._discovery.workers
        ]
        if self.workers is not None:
            workers = await _within_deadline(
                self.workers.status(),
                lambda reason: [{**w, "state": "unavailable", "reason": reason} for w in stopped],
            )
        elif self.running and not self._run_workers:
            workers = [{**w, "state": "external"} for w in stopped]
        else:
            workers = stopped
        auth = await _within_deadline(
            self._tokens.fresh_status(), lambda reason: {"state": "unavailable", "reason": reason}
        )
        return {
            "running": self.running,
            "version": VERSION,
            "backends": {"bus": self._bus.name, "store": self._store.name},
            "auth": auth,
            "gateway": {k: v for k, v in gateway_status.items() if k != "subscriptions"},
            "subscriptions": gateway_status.get("subscriptions", []),
            "workers": workers,
            "worker_errors": [
                {"source": e.source, "reason": e.reason} for e in self._discovery.errors
            ],
            "task_failures": dict(self._tasks.failures),
        }


async def _within_deadline(part: Awaitable[T], unavailable: Callable[[str], T]) -> T:
    """`part`'s value, or `unavailable(reason)` when its backend fails or is too slow."""
    try:
        return await asyncio.wait_for(part, STATUS_PART_TIMEOUT_S)
    except TimeoutError:
        reason = f"no answer within {STATUS_PART_TIMEOUT_S:g} s (is Redis or the database up?)"
    except StreamCoreError as error:
        reason = str(error)
    logger.warning("Status: a part is unavailable: %s", reason)
    return unavailable(reason)
