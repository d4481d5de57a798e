"""The system API: start, stop and status of the live system, metrics, demo triggers.

Every route is admin-protected (app.access). Domain errors map to HTTP here: `AuthRequired`
is 401 with the auth link, `UnknownWorker` 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from app.access import AdminRequired
from app.deps import ServicesDep, SystemDep
from app.metrics import CONTENT_TYPE, render
from tokens.errors import AuthRequired
from worker_runtime.errors import UnknownWorker

router = APIRouter(prefix="/system", tags=["system"])


@router.post("/start", summary="Start the gateway and the workers (idempotent)")
async def start(system: SystemDep, _: AdminRequired) -> JSONResponse:
    try:
        outcome = await system.start()
    except AuthRequired as needed:
        body = {
            "status": "auth_required",
            "auth_url": needed.auth_url,
            "missing_scopes": needed.missing_scopes,
        }
        return JSONResponse(body, status_code=401)
    return JSONResponse({"status": outcome})


@router.post("/stop", summary="Stop gracefully: the socket closes, handlers finish, acks flush")
async def stop(system: SystemDep, _: AdminRequired) -> dict[str, Any]:
    return {"status": await system.stop()}


@router.get("/status", summary="Everything about the running system")
async def status(services: ServicesDep, _: AdminRequired) -> dict[str, Any]:
    body = await services.system.status()
    broadcaster = services.broadcaster
    body["clients"] = broadcaster.status() if broadcaster is not None else {"connected": 0}
    body["event_loop"] = services.loop_watch.stats.public()
    return body


@router.post("/workers/{name}/replay", summary="Send a worker's dead letters back to it")
async def replay_worker(name: str, system: SystemDep, _: AdminRequired) -> JSONResponse:
    if system.workers is None:
        return JSONResponse(
            {"error": "not_running", "message": "Start the system first (POST /system/start)"},
            status_code=409,
        )
    try:
        replayed = await system.workers.replay(name)
    except UnknownWorker as error:
        return JSONResponse({"error": "unknown_worker", "message": str(error)}, status_code=404)
    return JSONResponse({"worker": name, "replayed": replayed})


metrics_router = APIRouter(tags=["metrics"])


@metrics_router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(services: ServicesDep, _: AdminRequired) -> Response:
    return Response(await render(services), media_type=CONTENT_TYPE)


demo_router = APIRouter(prefix="/demo", tags=["demo"])


class DemoTrigger(BaseModel):
    type: str = Field(pattern=r"^[a-z0-9_.]{3,80}$")
    event: dict[str, Any] = Field(default_factory=dict)
    count: int = Field(default=1, ge=1, le=100)


@demo_router.post("/trigger", summary="Demo mode only: fire a simulated Twitch event")
async def demo_trigger(body: DemoTrigger, services: ServicesDep, _: AdminRequired) -> JSONResponse:
    simulator_url = services.settings.streamcore_demo_simulator_url
    if not simulator_url:
        return JSONResponse(
            {"error": "not_demo", "message": "Only available under `streamcore demo`"},
            status_code=404,
        )
    response = await services.http.post(
        f"{simulator_url.rstrip('/')}/control/trigger", json=body.model_dump()
    )
    return JSONResponse(response.json(), status_code=response.status_code)
