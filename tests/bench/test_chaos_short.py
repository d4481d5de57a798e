"""The chaos benchmark's short mode (bench/chaos.py --short), as CI runs it: three real
replicas behind Debian's nginx on a private Redis and a fresh PostgreSQL schema, SIGKILLed
under load; it must exit 0 (no client got an event twice, none lost one outside an announced
gap, never two EventSub sessions at once) and print its summary line.

nginx, redis-server and PostgreSQL are required: without one the test is skipped locally and
fails under CI=true, as tests/deploy/test_proxy.py does for nginx."""

from __future__ import annotations

import pytest

from tests.bench.harness import run_bench

pytestmark = pytest.mark.slow

#: The short run takes about a minute on an idle 2-core machine; this is only a safety net.
RUN_TIMEOUT_S = 600


def run_short(transport: str) -> None:
    """bench/chaos.py --short for one transport: exit 0 and a PASS summary line."""
    run = run_bench(
        "chaos.py",
        *("--short", "--no-baseline", "--transport", transport),
        summary="chaos",
        timeout_s=RUN_TIMEOUT_S,
        nginx=True,
    )
    assert run.returncode == 0, run.tail
    assert run.summary.startswith(f"chaos summary: {transport} PASS - 3 replicas"), run.tail


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_chaos_short_run_holds_its_targets() -> None:
    run_short("websocket")
