"""The objects one StreamCore process shares, built once by the lifespan in `core/app.py`.

Each part of StreamCore adds its long-lived object here as a field (typed, default None until
the lifespan builds it), so request handlers reach everything through one dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bus import Bus
from core.settings import Settings
from core.tasks import TaskSupervisor
from store import Store


@dataclass
class Runtime:
    settings: Settings
    bus: Bus
    store: Store
    tasks: TaskSupervisor = field(default_factory=TaskSupervisor)
    running: bool = False

    def backends(self) -> dict[str, str]:
        return {"bus": self.bus.name, "store": self.store.name}
