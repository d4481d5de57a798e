"""Revoking a client key closes its open connections with 4001 on every StreamCore process
sharing the Redis, not only on the one that received the revocation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.events.conftest import run_streamcore
from tests.polling import eventually

pytestmark = pytest.mark.slow


async def test_a_revoked_key_is_closed_with_4001_on_every_replica(
    tmp_path: Path, redis_url: str
) -> None:
    # Both replicas use the same data dir, so the same key store.
    async with (
        run_streamcore(tmp_path, redis_url) as first,
        run_streamcore(tmp_path, redis_url) as second,
        httpx.AsyncClient(base_url=first.http_url) as api,
    ):
        created = await api.post("/keys", json={"name": "overlay"})
        key = created.json()["key"]
        on_first = await connect(first.ws_url(f"key={key}"), open_timeout=10)
        on_second = await connect(second.ws_url(f"key={key}"), open_timeout=10)
        await eventually(
            lambda: first.connected() == 1 and second.connected() == 1, what="both connected"
        )

        revoked = await api.delete("/keys/overlay")
        assert revoked.status_code == 200

        codes = []
        for ws in (on_first, on_second):
            with pytest.raises(ConnectionClosed) as closed:
                # The close comes at once (no event needed); 5 s is only a bound for failing.
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None
            codes.append((closed.value.rcvd.code, closed.value.rcvd.reason))
    assert codes == [(4001, "key revoked"), (4001, "key revoked")]
