"""How every route reaches what it needs: `Annotated` dependency aliases, one per part.

The lifespan stores the process's `Services` on `app.state.services`; nothing else reads
`app.state`. A route names what it uses (`tokens: TokensDep`), which also documents it.
Until the lifespan has built the services, each of these answers 503. Tests that serve one
router alone replace a `get_*` function through `app.dependency_overrides`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from app.services import Services
from app.system import System
from bus import Bus
from core.settings import Settings
from core.tasks import TaskSupervisor
from db_infrastructure import Store
from events.broadcaster import Broadcaster
from tokens.manager import TokenManager
from worker_runtime.discovery import Discovery


def get_settings(connection: HTTPConnection) -> Settings:
    """The settings `create_app` read once (available before the services are built)."""
    settings: Settings = connection.app.state.settings
    return settings


def find_services(connection: HTTPConnection) -> Services | None:
    """The services, or None before the lifespan built them (for routes outside FastAPI's
    dependency injection: the health check and `WS /ws/events`)."""
    services: Services | None = getattr(connection.app.state, "services", None)
    return services


def get_services(connection: HTTPConnection) -> Services:
    services = find_services(connection)
    if services is None:
        raise HTTPException(503, "StreamCore is still starting; retry in a moment.")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_bus(services: ServicesDep) -> Bus:
    return services.bus


def get_store(services: ServicesDep) -> Store:
    return services.store


def get_tasks(services: ServicesDep) -> TaskSupervisor:
    return services.tasks


def get_tokens(services: ServicesDep) -> TokenManager:
    return services.tokens


def get_system(services: ServicesDep) -> System:
    return services.system


def get_discovery(services: ServicesDep) -> Discovery:
    return services.discovery


def get_broadcaster(services: ServicesDep) -> Broadcaster:
    if services.broadcaster is None:
        raise HTTPException(503, "The event fan-out does not run in this process.")
    return services.broadcaster


BusDep = Annotated[Bus, Depends(get_bus)]
StoreDep = Annotated[Store, Depends(get_store)]
TasksDep = Annotated[TaskSupervisor, Depends(get_tasks)]
TokensDep = Annotated[TokenManager, Depends(get_tokens)]
SystemDep = Annotated[System, Depends(get_system)]
DiscoveryDep = Annotated[Discovery, Depends(get_discovery)]
BroadcasterDep = Annotated[Broadcaster, Depends(get_broadcaster)]
