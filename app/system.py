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

from app.cluster import ClusterNode
from app.eventsub import EventSubParts
from bus import Bus
from cluster import DesiredState
from core.errors import StreamCoreError
from core.settings import Settings
from core.tasks import TaskSupervisor
from db_infrastructure import Store
from events.publisher import EventPublisher
from gateway.service import Gateway
from gateway.webhook_intake import WebhookIntake
from tokens.channel_tokens import ChannelClients
from tokens.channel_validation import ChannelValidation
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
        cluster: ClusterNode,
        app_helix: HelixClient,
        webhook: WebhookIntake | None = None,
        channel_clients: ChannelClients | None = None,
    ) -> None:
        self._settings = settings
        #: The other channels' Helix clients, for the workers acting for them.
        self._channel_clients = channel_clients
        self._channel_validation: ChannelValidation | None = None
        self._bus = bus
        self._store = store
        self._tasks = tasks
        self._tokens = tokens
        self._helix = helix
        self._discovery = discovery
        self._publisher = publisher
        self._worker_environ = dict(worker_environ)
        self._cluster = cluster
        self._desired = DesiredState(store, bus)
        #: STREAMCORE_RUN_WORKERS=false: this process runs the gateway only, and the workers
        #: run in processes of their own (`streamcore workers run`).
        self._run_workers = settings.streamcore_run_workers
        self._lock = asyncio.Lock()
        #: This replica runs its parts (the workers; the gateway too when coordinator).
        self.running = False
        self.eventsub = EventSubParts(
            settings=settings,
            bus=bus,
            store=store,
            tasks=tasks,
            tokens=tokens,
            helix=helix,
            app_helix=app_helix,
            publisher=publisher,
            wanted=discovery.wanted_subscriptions,
            cluster=cluster,
            webhook=webhook,
        )
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
            channels=self._channel_clients,
            publisher=self._publisher,
            # The replica id: stable across restarts and protected by its lease, so a restarted
            # replica resumes its own pending entries at once.
            consumer_name=consumer_name or self._cluster.replica_id,
        )

    @property
    def gateway(self) -> Gateway | None:
        """The WebSocket-transport gateway, while this replica runs it."""
        return self.eventsub.gateway

    def build_gateway(self) -> Gateway:
        """The WebSocket-transport gateway (not started)."""
        return self.eventsub.build_gateway()

    async def start(self) -> str:
        """Start the system cluster-wide: "started", or "already_running".

        The wish is stored (every replica follows it, and restarts keep it); this replica
        applies it at once: the workers, and the gateway when it is the coordinator. Raises
        `tokens.errors.AuthRequired` (with the auth link) while authorization is missing.
        """
        await require_ready(self._tokens)
        already = self.running and await self._desired.running()
        await self._desired.set(True)
        await self.apply()
        return "already_running" if already else "started"

    async def stop(self) -> str:
        """Stop the system cluster-wide: every replica stops its gateway, then its workers."""
        was_running = self.running or await self._desired.running()
        await self._desired.set(False)
        await self.apply()
        return "stopped" if was_running else "not_running"

    async def apply(self) -> None:
        """Make this replica's parts match the desired state and its role (idempotent)."""
        async with self._lock:
            want = await self._desired.running()
            coordinate = want and self._cluster.is_coordinator
            # EventSub first on the way down (no new entries), workers first on the way up.
            if not want:
                await self.eventsub.apply(False, coordinate, requested=True)
            if not want and self.running:
                if self.workers is not None:
                    await self.workers.stop(DEFAULT_STOP_GRACE_S)
                    self.workers = None
                self.running = False
                logger.info("System stopped on replica %s", self._cluster.replica_id)
            if want and not self.running:
                if self._run_workers:
                    self.workers = self.worker_runtime()
                    await self.workers.start()
                else:
                    logger.info("Workers run elsewhere (STREAMCORE_RUN_WORKERS=false)")
                self.running = True
                logger.info("System started on replica %s", self._cluster.replica_id)
            if want:
                await self.eventsub.apply(True, coordinate, requested=False)
            await self._validate_channels(coordinate)

    async def _validate_channels(self, coordinate: bool) -> None:
        """The coordinator validates the other channels' tokens, spread over the hour."""
        if coordinate and self._channel_validation is None and self._channel_clients:
            clients = self._channel_clients
            self._channel_validation = ChannelValidation(
                self._tokens.channels,
                self._tokens.oauth,
                clients.token,
                clients.default_id,
                identities=self._tokens.identities,
                account_token=clients.account_token,
            )
            self._tasks.spawn("tokens.channel_validation", self._channel_validation.run())
        elif not coordinate and self._channel_validation is not None:
            self._channel_validation = None
            await self._tasks.cancel("tokens.channel_validation")

    async def halt_gateway(self) -> None:
        """This replica just lost the coordinator lease: stop acting at once, before another
        replica can take it. `apply` tidies up after."""
        await self.eventsub.halt()

    async def shutdown(self) -> None:
        """This process is leaving: stop its parts, leave the stored desired state alone (the
        other replicas, and this one after a restart, keep following it)."""
        async with self._lock:
            await self.eventsub.shutdown()
            await self._validate_channels(False)
            if self.workers is not None:
                await self.workers.stop(DEFAULT_STOP_GRACE_S)
                self.workers = None
            self.running = False

    def holds(self) -> dict[str, Any]:
        """What this replica holds, for the cluster registry (GET /system/status)."""
        return {
            "role": "replica",
            "coordinator": self._cluster.is_coordinator,
            "workers": self.workers is not None,
            **self.eventsub.holds(),
        }

    async def status(self) -> dict[str, Any]:
        """Everything about the live system. Each part that needs Redis or the database
        answers within STATUS_PART_TIMEOUT_S or is reported `unavailable` with the reason, so
        the status stays readable while a backend is down or paused."""
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
        cluster = await _within_deadline(
            self._cluster.status(), lambda reason: {"state": "unavailable", "reason": reason}
        )
        desired: bool | None = await _within_deadline(self._desired.running(), lambda _: None)
        # Read after the awaits, together: `apply` may run meanwhile, and a status whose
        # `running` and gateway state come from either side of it would contradict itself.
        running = self.running
        gateway_status = self.eventsub.status(running)
        return {
            "running": running,
            "desired": None if desired is None else ("running" if desired else "stopped"),
            "cluster": cluster,
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
