"""The webhook restart benchmark's short mode (bench/webhook_restart.py --short), as CI runs it:
one real StreamCore on the webhook transport, SIGKILLed while the simulator POSTs 20
channel.follow a second, down 5 s and started again; the simulator's retries must bring every
event to the /ws/events client exactly once. It must exit 0 and print its summary line.

redis-server is required (a private one with the append-only file on): without it the test is
skipped locally and fails under CI=true, as tests/bench/test_chaos_short.py does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import unavailable

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
#: The short run takes about 25 s on an idle 2-core machine; this is only a safety net.
RUN_TIMEOUT_S = 300


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_webhook_restart_short_run_loses_and_doubles_nothing() -> None:
    if shutil.which("redis-server") is None:
        unavailable("redis-server", "not installed", "install it (apt-get install redis-server)")
    run = subprocess.run(
        [sys.executable, "bench/webhook_restart.py", "--short"],
        cwd=ROOT,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    output = f"{run.stdout}\n{run.stderr}"
    summary = [
        line for line in run.stdout.splitlines() if line.startswith("webhook restart summary:")
    ]
    assert run.returncode == 0, output[-6000:]
    assert len(summary) == 1, output[-6000:]
    assert summary[0].startswith("webhook restart summary: PASS - sent "), summary[0]
    assert ", lost 0, doubled 0;" in summary[0], summary[0]
