"""GET /system/status stays readable while Redis is paused: the parts that need it answer
`unavailable` with a reason within a short deadline instead of hanging the request."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.redis_server import RedisServer
from tests.system.test_system_flow import authorize, deploy, gateway_connected

pytestmark = pytest.mark.slow


async def test_status_answers_within_seconds_while_redis_is_paused(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    async with deploy(tmp_path, redis_url=redis_server.url) as deployment:
        await authorize(deployment)
        await deployment.api.post("/system/start")

        await gateway_connected(deployment)
        assert redis_server.process is not None
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            # Generous: it answers in about STATUS_PART_TIMEOUT_S; before, it hung with Redis.
            response = await deployment.api.get("/system/status", timeout=8)
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        status = response.json()
        assert response.status_code == 200
        assert {w["state"] for w in status["workers"]} == {"unavailable"}
        assert "no answer within" in status["workers"][0]["reason"]
        assert status["auth"]["state"] == "ok"  # the database is up: that part still answers
