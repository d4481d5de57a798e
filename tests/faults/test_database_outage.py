"""PostgreSQL going away while StreamCore runs: requests that need it get 503 with a reason,
keyed WebSocket clients get 1013, /system/status still answers, and the log has one line per
refusal instead of tracebacks."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import fresh_postgres_schema
from tests.events.conftest import run_streamcore
from tests.faults.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow


async def test_a_database_outage_is_answered_with_503_and_1013(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with fresh_postgres_schema() as (dsn, schema):
        connection = await asyncpg.connect(dsn)
        await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await connection.close()
        target = urlsplit(dsn)
        proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
        await proxy.start()
        proxied = dsn.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{proxy.port}")
        async with (
            run_streamcore(
                tmp_path, redis_url, database_url=f"{proxied}?search_path={schema}"
            ) as server,
            httpx.AsyncClient(base_url=server.http_url) as api,
        ):
            created = await api.post("/keys", json={"name": "obs"})
            assert created.status_code == 201
            key = created.json()["key"]

            await proxy.cut()
            with caplog.at_level(logging.WARNING):
                refused = await api.post("/keys", json={"name": "second"})
                status = await api.get("/system/status")
                ws = await connect(server.ws_url(f"key={key}"), open_timeout=10)
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()

    assert refused.status_code == 503
    assert refused.json()["error"] == "backend_unavailable"
    assert "PostgreSQL is unavailable" in refused.json()["message"]
    assert refused.headers["retry-after"]
    assert status.status_code == 200
    assert status.json()["auth"]["state"] == "unavailable"
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013
    assert "key store" in closed.value.rcvd.reason
    assert not [r for r in caplog.records if r.exc_info], "an outage logged a traceback"
