"""How every route reaches what it needs: `Annotated` dependency aliases, one per part.

The lifespan stores the process's `Services` on `app.state.services`; nothing else reads
`app.state` but the login throttle (`get_login_throttle`), which belongs to the app itself.
A route names what it uses (`tokens: TokensDep`), which also documents it.
Until the lifespan has built the services, each of these answers 503. Tests that serve one
router alone replace a `get_*` function through `app.dependency_overrides`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from app.services import Services
from app.sessions import DashboardSessions
from app.system import System
from app.throttle import LoginThrottle
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


def find_dashboard_sessions(connection: HTTPConnection) -> DashboardSessions | None:
    """The dashboard sessions, or None before the lifespan built the services (for the
    request guard, which runs outside dependency injection)."""
    services = find_services(connection)
    if services is None:
        return None
    return DashboardSessions.for_settings(services.store, services.settings)


def get_dashboard_sessions(services: ServicesDep) -> DashboardSessions:
    return DashboardSessions.for_settings(services.store, services.settings)


def get_login_throttle(connection: HTTPConnection) -> LoginThrottle:
    """The app's failed-login throttle: in memory, one per app (app/throttle.py says why that
    is enough), made on first use so that it needs no lifespan."""
    state = connection.app.state
    throttle: LoginThrottle | None = getattr(state, "login_throttle", None)
    if throttle is None:
        throttle = state.login_throttle = LoginThrottle()
    return throttle


BusDep = Annotated[Bus, Depends(get_bus)]
StoreDep = Annotated[Store, Depends(get_store)]
TasksDep = Annotated[TaskSupervisor, Depends(get_tasks)]
TokensDep = Annotated[TokenManager, Depends(get_tokens)]
SystemDep = Annotated[System, Depends(get_system)]
DiscoveryDep = Annotated[Discovery, Depends(get_discovery)]
BroadcasterDep = Annotated[Broadcaster, Depends(get_broadcaster)]
DashboardSessionsDep = Annotated[DashboardSessions, Depends(get_dashboard_sessions)]
LoginThrottleDep = Annotated[LoginThrottle, Depends(get_login_throttle)]
