"""The chaos benchmark's short mode (bench/chaos.py --short), as CI runs it: three real
replicas behind Debian's nginx on a private Redis and a fresh PostgreSQL schema, SIGKILLed
under load; it must exit 0 (no client got an event twice, none lost one outside an announced
gap, never two EventSub sessions at once) and print its summary line.

nginx, redis-server and PostgreSQL are required: without one the test is skipped locally and
fails under CI=true, as tests/deploy/test_proxy.py does for nginx."""

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

NGINX_PATH = os.environ.get("NGINX_PATH", "/usr/sbin/nginx")
#: The short run takes about a minute on an idle 2-core machine; this is only a safety net.
RUN_TIMEOUT_S = 600


def require_services() -> None:
    if not (os.path.isfile(NGINX_PATH) and os.access(NGINX_PATH, os.X_OK)):
        unavailable(
            f"nginx at {NGINX_PATH}",
            "not installed",
            "install it (apt-get install nginx, see .ci/run) or set NGINX_PATH",
        )
    if shutil.which("redis-server") is None:
        unavailable("redis-server", "not installed", "install it (apt-get install redis-server)")

    async def reach_postgres() -> None:
        connection = await asyncpg.connect(POSTGRES_TEST_DSN, timeout=5)
        await connection.close()

    try:
        asyncio.run(reach_postgres())
    except Exception as error:
        unavailable("PostgreSQL at 127.0.0.1:5432", error)


def run_short(transport: str) -> None:
    """bench/chaos.py --short for one transport: exit 0 and a PASS summary line."""
    require_services()
    run = subprocess.run(
        [sys.executable, "bench/chaos.py", "--short", "--no-baseline", "--transport", transport],
        cwd=ROOT,
        env={**os.environ, "POSTGRES_TEST_DSN": POSTGRES_TEST_DSN, "NGINX_PATH": NGINX_PATH},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    output = f"{run.stdout}\n{run.stderr}"
    summary = [line for line in run.stdout.splitlines() if line.startswith("chaos summary:")]
    assert run.returncode == 0, output[-6000:]
    assert len(summary) == 1, output[-6000:]
    assert summary[0].startswith(f"chaos summary: {transport} PASS - 3 replicas"), summary[0]


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_chaos_short_run_holds_its_targets() -> None:
    run_short("websocket")
