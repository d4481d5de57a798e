"""The system API: start, stop and status of the live system (admin-protected)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from core.access import AdminRequired
from core.metrics import CONTENT_TYPE, render
from core.runtime import Runtime
from core.system import System
from workers.errors import UnknownWorker

router = APIRouter(prefix="/system", tags=["system"])


def _system(request: Request) -> System:
    runtime: Runtime = request.app.state.runtime
    assert runtime.system is not None
    return runtime.system


@router.post("/start", summary="Start the gateway and the workers (idempotent)")
async def start(request: Request, _: AdminRequired) -> JSONResponse:
    status, body = await _system(request).start()
    return JSONResponse(body, status_code=status)


@router.post("/stop", summary="Stop gracefully: the socket closes, handlers finish, acks flush")
async def stop(request: Request, _: AdminRequired) -> dict[str, Any]:
    return await _system(request).stop()


@router.get("/status", summary="Everything about the running system")
async def status(request: Request, _: AdminRequired) -> dict[str, Any]:
    return await _system(request).status()


@router.post("/workers/{name}/replay", summary="Send a worker's dead letters back to it")
async def replay_worker(name: str, request: Request, _: AdminRequired) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    if runtime.workers is None:
        return JSONResponse(
            {"error": "not_running", "message": "Start the system first (POST /system/start)"},
            status_code=409,
        )
    try:
        replayed = await runtime.workers.replay(name)
    except UnknownWorker as error:
        return JSONResponse({"error": "unknown_worker", "message": str(error)}, status_code=404)
    return JSONResponse({"worker": name, "replayed": replayed})


metrics_router = APIRouter(tags=["metrics"])


@metrics_router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, _: AdminRequired) -> Response:
    runtime: Runtime = request.app.state.runtime
    return Response(await render(runtime), media_type=CONTENT_TYPE)


demo_router = APIRouter(prefix="/demo", tags=["demo"])


class DemoTrigger(BaseModel):
    type: str = Field(pattern=r"^[a-z0-9_.]{3,80}$")
    event: dict[str, Any] = Field(default_factory=dict)
    count: int = Field(default=1, ge=1, le=100)


@demo_router.post("/trigger", summary="Demo mode only: fire a simulated Twitch event")
async def demo_trigger(body: DemoTrigger, request: Request, _: AdminRequired) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    simulator_url = runtime.settings.streamcore_demo_simulator_url
    if not simulator_url or runtime.http is None:
        return JSONResponse(
            {"error": "not_demo", "message": "Only available under `streamcore demo`"},
            status_code=404,
        )
    response = await runtime.http.post(
        f"{simulator_url.rstrip('/')}/control/trigger", json=body.model_dump()
    )
    return JSONResponse(response.json(), status_code=response.status_code)
