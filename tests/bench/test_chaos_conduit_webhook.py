"""The chaos benchmark's short mode with a conduit whose shards are webhooks on the proxy
(bench/chaos.py --short --transport conduit-webhook): three real replicas behind Debian's nginx,
SIGKILLed under load. It must exit 0: every client got every event exactly once, with no gap
at all (this is the zero-loss transport). Its own file, so pytest-xdist runs it beside the
WebSocket run rather than after it."""

from __future__ import annotations

import pytest

from tests.bench.test_chaos_short import RUN_TIMEOUT_S, run_short

pytestmark = pytest.mark.slow


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_chaos_short_run_with_webhook_shards_loses_nothing() -> None:
    run_short("conduit-webhook")
