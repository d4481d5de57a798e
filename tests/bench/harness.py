"""Running a benchmark script's short mode from a test: check the services it needs, run it
as a subprocess from the checkout, and hand back its output and its summary line."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

import asyncpg

from tests.conftest import POSTGRES_TEST_DSN, unavailable
from tests.deploy.nginx_config import ROOT

NGINX_PATH = os.environ.get("NGINX_PATH", "/usr/sbin/nginx")


def require_services(nginx: bool = False) -> None:
    """redis-server and PostgreSQL (and nginx when asked): without one the test is skipped
    locally and fails under CI=true (tests.conftest.unavailable)."""
    if nginx and not (os.path.isfile(NGINX_PATH) and os.access(NGINX_PATH, os.X_OK)):
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


@dataclass
class BenchRun:
    returncode: int
    stdout: str
    #: The last part of stdout and stderr, for assertion messages.
    tail: str
    #: The one line starting with "<name> summary:" ("" when there is none or several).
    summary: str


def run_bench(
    script: str, *args: str, summary: str, timeout_s: float, nginx: bool = False
) -> BenchRun:
    """`python bench/<script> <args>` from the checkout, with the test database's DSN."""
    require_services(nginx)
    run = subprocess.run(
        [sys.executable, f"bench/{script}", *args],
        cwd=ROOT,
        env={**os.environ, "POSTGRES_TEST_DSN": POSTGRES_TEST_DSN, "NGINX_PATH": NGINX_PATH},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith(f"{summary} summary:")]
    tail = f"{run.stdout}\n{run.stderr}"[-6000:]
    return BenchRun(run.returncode, run.stdout, tail, lines[0] if len(lines) == 1 else "")
