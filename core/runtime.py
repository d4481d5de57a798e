"""The objects one StreamCore process shares, built once by the lifespan in `core/app.py`.

Each part of StreamCore adds its long-lived object here as a field (typed, default None until
the lifespan builds it), so request handlers reach everything through one dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bus import Bus
from core.settings import Settings
from core.tasks import TaskSupervisor
from store import Store

if TYPE_CHECKING:
    from core.system import System
    from events.broadcaster import Broadcaster

if TYPE_CHECKING:
    import httpx

    from tokens.helix import HelixClient
    from tokens.manager import TokenManager

if TYPE_CHECKING:
    from workers.runtime import WorkerRuntime

if TYPE_CHECKING:
    from gateway.service import Gateway


@dataclass
class Runtime:
    settings: Settings
    bus: Bus
    store: Store
    tasks: TaskSupervisor = field(default_factory=TaskSupervisor)
    running: bool = False
    #: The event fan-out of WS /ws/events; runs from start-up, independent of /system/start.
    broadcaster: Broadcaster | None = None
    #: The process's one HTTP client for Twitch, its token manager and its Helix client.
    http: httpx.AsyncClient | None = None
    tokens: TokenManager | None = None
    helix: HelixClient | None = None
    #: The workers of this process (consumer loops, status, replay); built and started by
    #: /system/start (or `streamcore workers` in a process of its own).
    workers: WorkerRuntime | None = None
    #: The EventSub gateway (gateway.service.build_gateway); started by /system/start.
    gateway: Gateway | None = None

    #: Starts and stops the gateway and the workers (POST /system/start and /system/stop).
    system: System | None = None

    def backends(self) -> dict[str, str]:
        return {"bus": self.bus.name, "store": self.store.name}
