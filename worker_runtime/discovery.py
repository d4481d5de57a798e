"""Discovery: import every worker module of the plugin folder and collect its workers.

Which modules are workers: every top-level module of the package (`workers/*.py`) except
- the contract itself (`workers/base.py`, the module that defines `BaseWorker`),
- modules whose name starts with `_` (private helpers, `__init__`),
- subpackages (directories such as `workers/models/` or `workers/lib/`): shared code lives
  there and is imported by the workers that use it, never scanned.
Nothing else is skipped, so a worker file may have any other name.
A worker is a concrete `BaseWorker` subclass *defined* in one of those modules (a class
imported from elsewhere does not count twice).

A module that fails to import, or a class that breaks the contract, becomes a `DiscoveryError`
naming it with the reason; the other workers still run. Two workers with one name are a
`DiscoveryError` too, and `Discovery.check()` (called by the runtime at start-up) raises.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import traceback
from dataclasses import dataclass, field
from typing import Any

from worker_runtime.contract import contract_violations
from worker_runtime.errors import DuplicateWorkerName
from workers.base import BaseWorker, registered_classes

logger = logging.getLogger("streamcore.workers")

#: The plugin folder's package.
WORKERS_PACKAGE = "workers"
#: The contract's module name within it (derived, so a rename cannot leave a stale skip).
CONTRACT_MODULE = BaseWorker.__module__.rpartition(".")[2]


@dataclass(frozen=True)
class DiscoveryError:
    """A module or class that could not be used: `source` names it, `reason` says why."""

    source: str
    reason: str
    fatal: bool = False

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass
class Discovery:
    workers: list[type[BaseWorker]] = field(default_factory=list)
    errors: list[DiscoveryError] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Raise DuplicateWorkerName if two workers share a name (a start-up error)."""
        fatal = [error for error in self.errors if error.fatal]
        if fatal:
            raise DuplicateWorkerName("; ".join(str(error) for error in fatal))

    def find(self, name: str) -> type[BaseWorker] | None:
        return next((worker for worker in self.workers if worker.name == name), None)

    def required_scopes(self) -> list[str]:
        """The union of every worker's `required_scopes`, sorted."""
        return sorted({scope for worker in self.workers for scope in worker.required_scopes})

    def wanted_subscriptions(self, broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
        """Every worker's subscriptions for these ids, as declared (the gateway merges repeats)."""
        return [
            subscription
            for worker in self.workers
            for subscription in worker().get_subscriptions(broadcaster_id, moderator_id)
        ]

    def workers_without_emits(self) -> list[str]:
        """Workers that declare no `emits`: /events/schema cannot list what they send. A class
        that sets `emits = {}` itself says it emits nothing (an actions-only worker)."""
        return sorted(
            worker.name
            for worker in self.workers
            if not worker.emits and "emits" not in vars(worker)
        )

    def event_schemas(self) -> dict[str, dict[str, Any] | None]:
        """Event name -> JSON schema of its data (None when undeclared), for /events/schema."""
        schemas: dict[str, dict[str, Any] | None] = {}
        for worker in self.workers:
            for event_name, model in worker.emits.items():
                if schemas.get(event_name) is None:
                    schemas[event_name] = None if model is None else model.model_json_schema()
        return dict(sorted(schemas.items()))


def worker_module_names(package: str) -> list[str]:
    """Fully qualified names of the modules discovery imports, sorted."""
    module = importlib.import_module(package)
    return sorted(
        f"{package}.{info.name}"
        for info in pkgutil.iter_modules(module.__path__)
        if not info.ispkg and not info.name.startswith("_") and info.name != CONTRACT_MODULE
    )


def _describe(error: BaseException) -> str:
    return traceback.format_exception_only(type(error), error)[-1].strip()


def discover_workers(package: str = WORKERS_PACKAGE) -> Discovery:
    """Import the package's worker modules and return the valid workers and the errors."""
    discovery = Discovery()
    for module_name in worker_module_names(package):
        try:
            importlib.import_module(module_name)
        except Exception as error:
            discovery.errors.append(
                DiscoveryError(module_name, f"import failed: {_describe(error)}")
            )
            continue
        discovery.modules.append(module_name)
    imported = set(discovery.modules)
    valid: list[type[BaseWorker]] = []
    for cls in registered_classes():
        if cls.__module__ not in imported:
            continue
        problems = contract_violations(cls)
        if problems:
            source = f"{cls.__module__}.{cls.__qualname__}"
            discovery.errors.append(DiscoveryError(source, "; ".join(problems)))
        else:
            valid.append(cls)
    by_name: dict[str, list[type[BaseWorker]]] = {}
    for cls in valid:
        by_name.setdefault(cls.name, []).append(cls)
    for name, classes in by_name.items():
        if len(classes) > 1:
            sources = " and ".join(f"{c.__module__}.{c.__qualname__}" for c in classes)
            discovery.errors.append(
                DiscoveryError(
                    sources,
                    f'two workers are named {name!r}; give one a distinct `name = "..."`',
                    fatal=True,
                )
            )
        else:
            discovery.workers.append(classes[0])
    for problem in discovery.errors:
        logger.error("Worker skipped: %s", problem)
    for name in discovery.workers_without_emits():
        logger.warning(
            "Worker %s declares no `emits`: GET /events/schema cannot list its events. "
            'Declare them, e.g. emits = {"%s.done": None} (or a Pydantic model per event).',
            name,
            name,
        )
    return discovery
