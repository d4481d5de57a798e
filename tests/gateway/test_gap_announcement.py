"""A new session announces the gap since the previous session's last coverage record, even
when its own frames arrive while it is still reading that record (a slow Redis): they must not
overwrite the record first and shrink the gap to nothing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bus.memory import MemoryBus
from gateway.coverage import COVERAGE_KEY, FIELD
from tests.gateway.harness import emitted, fast_options, running_gateway
from tests.polling import eventually

#: The previous session's last record: this long before the new session subscribes.
OUTAGE_S = 30.0


class SlowRecordReads(MemoryBus):
    """Reads of the coverage record take longer than the session's keepalive interval, so
    frames (and their coverage marks) arrive while the record is being read."""

    async def get_fields(self, key: str) -> dict[str, str]:
        if key == COVERAGE_KEY:
            await asyncio.sleep(2.5)
        return await super().get_fields(key)


async def test_the_gap_runs_from_the_previous_sessions_last_record(
    sim: Any, tmp_path: Path
) -> None:
    bus = SlowRecordReads()
    last_covered = time.time() - OUTAGE_S
    await bus.put_field(COVERAGE_KEY, FIELD, repr(last_covered))
    options = fast_options(keepalive_timeout_s=1)
    async with running_gateway(sim, bus, tmp_path, options=options) as run:
        await run.wait_subscribed(2)

        async def gaps() -> list[dict[str, Any]]:
            found = await emitted(bus, "system.gateway")
            return [e for e in found if e["state"] == "gap"]

        await eventually(gaps, within_s=10, what="a system.gateway gap")
        [gap] = await gaps()
    since = gap["since"]
    assert since.startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(last_covered))), gap
