"""STREAMCORE_RUN_WORKERS=false: the API process runs the gateway and the fan-out, and the
workers run in a process of their own (`streamcore workers run`), so a worker that blocks
cannot stall the API. Real processes, real Redis and PostgreSQL, the simulator."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.polling import eventually
from tests.system.test_system_flow import WAIT_S, authorize, deploy

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


async def test_workers_run_in_their_own_process_and_events_still_reach_the_bus(
    tmp_path: Path,
) -> None:
    async with deploy(tmp_path, streamcore_run_workers=False) as deployment:
        await authorize(deployment)
        started = await deployment.api.post("/system/start")
        assert started.json() == {"status": "started"}
        status = (await deployment.api.get("/system/status")).json()
        assert {w["state"] for w in status["workers"]} == {"external"}

        async def follow_enabled() -> bool:
            body = (await deployment.api.get("/system/status")).json()
            return any(
                s["type"] == "channel.follow" and s["status"] == "enabled"
                for s in body["subscriptions"]
            )

        await eventually(follow_enabled, within_s=WAIT_S, what="channel.follow enabled")
        bus = deployment.app.state.services.bus
        workers = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "cli.main", "workers", "run", "--consumer", "elsewhere"),
            cwd=ROOT,
            env={**os.environ, **deployment.env, "STREAMCORE_LOG_LEVEL": "WARNING"},
        )
        try:
            # A worker's group starts at the stream's end when its first process starts.
            await eventually(
                lambda: bus.group_info("eventsub:channel.follow", "worker:alerts"),
                within_s=WAIT_S,
                what="the workers process running the alerts worker",
            )
            async with bus.psubscribe("events:alert.*") as alerts:
                await deployment.sim.trigger("channel.follow", event={"user_name": "Ada"})
                message = await asyncio.wait_for(alerts.get(), WAIT_S)
        finally:
            workers.send_signal(signal.SIGTERM)
            await asyncio.wait_for(workers.wait(), 20)
        assert json.loads(message.data)["event"] == "alert.follow"
        assert workers.returncode == 0
        # The API process handled nothing itself: it has no worker runtime.
        assert deployment.app.state.services.system.workers is None
