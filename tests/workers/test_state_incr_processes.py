"""`self.state.incr` is atomic across OS processes, as replicas on one database need.

Each test starts separate Python processes that open their own store on the same database,
wait until all are ready, then increment one key as fast as they can. A read-add-write (the
old process-local lock) loses increments here; the store's single-statement upsert must not.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path

import pytest

from db_infrastructure.base import Store
from db_infrastructure.postgres import PostgresStore
from db_infrastructure.sqlite import SQLiteStore
from worker_runtime.toolkit import StoredState

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

#: One counting process: argv is backend, path or DSN, PostgreSQL schema, increments. It prints
#: "ready" once connected, waits for a line on stdin, then prints every value incr returned.
CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path

    from worker_runtime.toolkit import StoredState


    async def main(backend, where, schema, count):
        if backend == "sqlite":
            from db_infrastructure.sqlite import SQLiteStore

            store = SQLiteStore(Path(where))
        else:
            from db_infrastructure.postgres import PostgresStore

            store = PostgresStore(where, schema=schema)
        await store.connect()
        try:
            state = StoredState(store, "counter")
            print("ready", flush=True)
            sys.stdin.readline()
            seen = [await state.incr("hits") for _ in range(count)]
        finally:
            await store.close()
        print(json.dumps(seen), flush=True)


    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    """
)


async def count_in_processes(
    backend: str, where: str, schema: str, processes: int, count: int, child: str = CHILD
) -> list[int]:
    """Run `processes` counting processes at once; every value their increments returned."""
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            child,
            backend,
            where,
            schema,
            str(count),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    try:
        for process in children:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
            if line.strip() != b"ready":
                _, error = await process.communicate()
                pytest.fail(f"a counting process did not start: {line!r} {error.decode()}")
        outputs = await asyncio.wait_for(
            asyncio.gather(*(process.communicate(b"go\n") for process in children)), timeout=120
        )
    finally:
        for process in children:
            if process.returncode is None:
                process.kill()
                await process.wait()
    seen: list[int] = []
    for process, (out, error) in zip(children, outputs, strict=True):
        assert process.returncode == 0, error.decode()
        seen.extend(json.loads(out.decode().strip().splitlines()[-1]))
    return seen


async def assert_every_increment_counted(store: Store, seen: list[int], total: int) -> None:
    assert await StoredState(store, "counter").get("hits") == total
    assert sorted(seen) == list(range(1, total + 1))  # each incr saw a value of its own


async def test_four_processes_on_one_postgresql_schema_lose_no_increment(
    postgres_dsn_and_schema: tuple[str, str],
) -> None:
    dsn, schema = postgres_dsn_and_schema
    store = PostgresStore(dsn, schema=schema)
    await store.connect()  # creates the schema and the table before the children race
    try:
        seen = await count_in_processes("postgresql", dsn, schema, processes=4, count=200)
        await assert_every_increment_counted(store, seen, 800)
    finally:
        await store.close()


async def test_two_processes_on_one_sqlite_file_lose_no_increment(tmp_path: Path) -> None:
    path = tmp_path / "streamcore.db"
    store = SQLiteStore(path)
    await store.connect()
    try:
        seen = await count_in_processes("sqlite", str(path), "", processes=2, count=200)
        await assert_every_increment_counted(store, seen, 400)
    finally:
        await store.close()
