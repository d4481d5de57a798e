"""The actions benchmark's short mode (bench/actions.py --short), as CI runs it: 200 `chat.send`
calls over /ws/events to one `streamcore run` replica, timed against 200 plain Helix POSTs to
the simulator with the same token, on a private Redis and a fresh PostgreSQL schema. It must
exit 0 (p99 of a call within 1.5x the baseline's p99 plus 5 ms, no call unanswered, no error)
and print its summary line.

redis-server and PostgreSQL are required: without one the test is skipped locally and fails
under CI=true, as tests/bench/test_chaos_short.py does."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys

import asyncpg
import pytest

from tests.conftest import POSTGRES_TEST_DSN, unavailable
from tests.deploy.nginx_config import ROOT

pytestmark = pytest.mark.slow

#: The short run takes about 10 s on an idle 2-core machine; this is only a safety net.
RUN_TIMEOUT_S = 180


def require_services() -> None:
    if shutil.which("redis-server") is None:
        unavailable("redis-server", "not installed", "install it (apt-get install redis-server)")

    async def reach_postgres() -> None:
        connection = await asyncpg.connect(POSTGRES_TEST_DSN, timeout=5)
        await connection.close()

    try:
        asyncio.run(reach_postgres())
    except Exception as error:
        unavailable("PostgreSQL at 127.0.0.1:5432", error)


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_actions_short_run_holds_its_targets() -> None:
    require_services()
    run = subprocess.run(
        [sys.executable, "bench/actions.py", "--short"],
        cwd=ROOT,
        env={**os.environ, "POSTGRES_TEST_DSN": POSTGRES_TEST_DSN},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    output = f"{run.stdout}\n{run.stderr}"
    summary = [line for line in run.stdout.splitlines() if line.startswith("actions summary:")]
    assert run.returncode == 0, output[-6000:]
    assert len(summary) == 1, output[-6000:]
    assert summary[0].startswith("actions summary: short PASS - 200 calls"), summary[0]
    assert "0 unanswered, 0 errors" in summary[0], summary[0]
    assert "[FAIL]" not in run.stdout, output[-6000:]
