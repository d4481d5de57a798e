"""Discovery: import every worker module of a package and collect its workers.

Which modules are workers: every top-level module of the package (`workers/*.py`) except
- modules whose name starts with `_` (private helpers, `__init__`),
- the infrastructure modules in `INFRASTRUCTURE_MODULES` (base, registry, runtime, ...),
- subpackages (directories such as `workers/lib/`): shared helper code lives there and is
  imported by the workers that use it, never scanned.
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

from workers.base import BaseWorker, contract_violations, registered_classes
from workers.errors import DuplicateWorkerName

logger = logging.getLogger("streamcore.workers")

#: Modules of the workers package that are machinery, not workers.
INFRASTRUCTURE_MODULES = frozenset(
    {
        "base",
        "consumer",
        "deadletters",
        "errors",
        "models",
        "registry",
        "runtime",
        "scaffold",
        "toolkit",
    }
)


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


def worker_module_names(package: str) -> list[str]:
    """Fully qualified names of the modules discovery imports, sorted."""
    module = importlib.import_module(package)
    return sorted(
        f"{package}.{info.name}"
        for info in pkgutil.iter_modules(module.__path__)
        if not info.ispkg
        and not info.name.startswith("_")
        and info.name not in INFRASTRUCTURE_MODULES
    )


def _describe(error: BaseException) -> str:
    return traceback.format_exception_only(type(error), error)[-1].strip()


def discover_workers(package: str = "workers") -> Discovery:
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
    return discovery


_cache: dict[str, Discovery] = {}


def _discovered(package: str) -> Discovery:
    if package not in _cache:
        _cache[package] = discover_workers(package)
    return _cache[package]


def registered_workers(package: str = "workers") -> list[type[BaseWorker]]:
    """The valid workers of `package` (discovered once per process, then cached)."""
    return list(_discovered(package).workers)


def required_scopes(package: str = "workers") -> list[str]:
    """The union of every registered worker's `required_scopes`, sorted."""
    return sorted(
        {scope for worker in registered_workers(package) for scope in worker.required_scopes}
    )


def moderator_id_for(broadcaster_id: str, configured_moderator_id: str = "") -> str:
    """TWITCH_MODERATOR_ID when set, otherwise the broadcaster's own id."""
    return configured_moderator_id or broadcaster_id


def subscriptions_for(
    broadcaster_id: str, moderator_id: str, package: str = "workers"
) -> list[dict[str, Any]]:
    """Every registered worker's subscriptions for these ids, each distinct one once."""
    seen: dict[str, dict[str, Any]] = {}
    for cls in registered_workers(package):
        for subscription in cls().get_subscriptions(broadcaster_id, moderator_id):
            key = repr(
                (
                    subscription["type"],
                    subscription["version"],
                    sorted(subscription["condition"].items()),
                )
            )
            seen.setdefault(key, subscription)
    return list(seen.values())


def event_schemas(package: str = "workers") -> dict[str, dict[str, Any] | None]:
    """Event name -> JSON schema of its data (None when undeclared), for GET /events/schema."""
    schemas: dict[str, dict[str, Any] | None] = {}
    for cls in registered_workers(package):
        for event_name, model in cls.emits.items():
            if schemas.get(event_name) is None:
                schemas[event_name] = None if model is None else model.model_json_schema()
    return dict(sorted(schemas.items()))
