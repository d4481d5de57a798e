"""The SQLite store: the embedded default at {STREAMCORE_DATA_DIR}/streamcore.db.

aiosqlite runs the sqlite3 module on its own thread, so queries never block the event loop.
WAL mode lets a second process (`streamcore workers`) read while the API process writes.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import aiosqlite

from core.errors import BackendUnavailable
from db_infrastructure.base import NUMBER_JSON, Store, incr_operands, incremented
from db_infrastructure.errors import MigrationError, NotANumber
from db_infrastructure.migrate import SCHEMA_VERSION_DDL, load_migrations

#: Tries to switch a busy database to WAL before giving up (about 5 s in all).
WAL_ATTEMPTS = 40

#: One statement, so it holds the database write lock from read to write: increments from other
#: connections and processes queue behind it (busy_timeout). The addition is `_json_add`, a
#: Python function registered on the connection, because SQLite's own arithmetic would cap ints
#: at 64 bits and print floats with 15 digits. ?1 namespace, ?2 key, ?3 JSON for a missing or
#: expired key, ?4 now, ?5 the JSON amount. A value that is not a number gives NULL and the row
#: is written back unchanged, which RETURNING reports.
_INCR = """
INSERT INTO kv AS old (namespace, key, value, expires_at, updated_at)
VALUES (?1, ?2, ?3, NULL, ?4)
ON CONFLICT (namespace, key) DO UPDATE SET (value, expires_at, updated_at) = (
    SELECT COALESCE(added.value, old.value),
           CASE WHEN added.value IS NULL THEN old.expires_at END,
           CASE WHEN added.value IS NULL THEN old.updated_at ELSE excluded.updated_at END
    FROM (SELECT CASE
        WHEN old.expires_at <= excluded.updated_at THEN excluded.value
        ELSE streamcore_json_add(old.value, ?5)
    END AS value) AS added
)
RETURNING value
"""
#: How sqlite3 reports an exception raised inside `_json_add` (only an overflowing float sum).
_FUNCTION_FAILED = "user-defined function raised exception"


def _json_add(stored: object, amount: str) -> str | None:
    """`stored + amount` as JSON for `_INCR`, with Python's own numbers; NULL if not a number."""
    if not isinstance(stored, str) or NUMBER_JSON.fullmatch(stored) is None:
        return None
    # allow_nan=False raises on an infinite sum, which fails the statement and changes nothing.
    return json.dumps(json.loads(stored) + json.loads(amount), allow_nan=False)


def _statements(script: str) -> list[str]:
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(
        part.strip().startswith("--") for part in buffer.strip().splitlines()
    ):
        statements.append(buffer.strip())
    return statements


class SQLiteStore(Store):
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("SQLiteStore used before connect()")
        return self._db

    async def connect(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = await aiosqlite.connect(self.path, isolation_level=None, timeout=30)
            await self.db.execute("PRAGMA busy_timeout=30000")
            await self.db.create_function("streamcore_json_add", 2, _json_add, deterministic=True)
            await self._enable_wal()
        except (OSError, sqlite3.Error) as error:
            await self.close()
            raise BackendUnavailable(
                f"Cannot open the SQLite database at {self.path} ({error}). "
                "Fix STREAMCORE_DATA_DIR or its permissions."
            ) from None
        try:
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def _enable_wal(self) -> None:
        await self._execute_when_unlocked("PRAGMA journal_mode=WAL")

    async def _execute_when_unlocked(self, statement: str) -> None:
        # Switching to WAL, and taking the write lock while another process does so, can answer
        # "locked" at once instead of waiting out busy_timeout: retry briefly.
        for attempt in range(WAL_ATTEMPTS):
            try:
                await self.db.execute(statement)
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or attempt == WAL_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    async def _migrate(self) -> None:
        migrations = load_migrations()
        # BEGIN IMMEDIATE takes the database write lock first, so a second process waits here
        # and then sees the versions the first one recorded.
        await self._execute_when_unlocked("BEGIN IMMEDIATE")
        try:
            await self.db.execute(SCHEMA_VERSION_DDL)
            async with self.db.execute("SELECT version FROM schema_version") as cursor:
                applied = {row[0] for row in await cursor.fetchall()}
            for migration in migrations:
                if migration.version in applied:
                    continue
                try:
                    for statement in _statements(migration.sql):
                        await self.db.execute(statement)
                except sqlite3.Error as error:
                    raise MigrationError(f"Migration {migration.name} failed: {error}") from None
                await self.db.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.name, time.time()),
                )
            await self.db.execute("COMMIT")
        except BaseException:
            await self.db.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def get(self, namespace: str, key: str) -> str | None:
        async with self.db.execute(
            "SELECT value FROM kv WHERE namespace = ? AND key = ? "
            "AND (expires_at IS NULL OR expires_at > ?)",
            (namespace, key, time.time()),
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def put(self, namespace: str, key: str, value: str, ttl_s: float | None = None) -> None:
        now = time.time()
        await self.db.execute(
            "INSERT INTO kv (namespace, key, value, expires_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET "
            "value = excluded.value, expires_at = excluded.expires_at, "
            "updated_at = excluded.updated_at",
            (namespace, key, value, None if ttl_s is None else now + ttl_s, now),
        )

    async def incr(self, namespace: str, key: str, amount: int | float) -> int | float:
        added, first = incr_operands(amount)
        try:
            async with self.db.execute(
                _INCR, (namespace, key, first, time.time(), added)
            ) as cursor:
                row = await cursor.fetchone()
        except sqlite3.OperationalError as error:
            if _FUNCTION_FAILED not in str(error):
                raise
            raise NotANumber(
                f"{namespace} {key!r} + {added} is out of the range of a float"
            ) from None
        assert row is not None  # an upsert always returns its row
        return incremented(namespace, key, str(row[0]))

    async def take(self, namespace: str, key: str) -> str | None:
        async with self.db.execute(
            "DELETE FROM kv WHERE namespace = ? AND key = ? RETURNING value, expires_at",
            (namespace, key),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None or (row[1] is not None and row[1] <= time.time()):
            return None
        return str(row[0])

    async def delete(self, namespace: str, key: str) -> bool:
        cursor = await self.db.execute(
            "DELETE FROM kv WHERE namespace = ? AND key = ?", (namespace, key)
        )
        return cursor.rowcount > 0

    async def items(self, namespace: str) -> dict[str, str]:
        now = time.time()
        await self.db.execute(
            "DELETE FROM kv WHERE namespace = ? AND expires_at <= ?", (namespace, now)
        )
        async with self.db.execute(
            "SELECT key, value FROM kv WHERE namespace = ? ORDER BY key", (namespace,)
        ) as cursor:
            return {str(key): str(value) for key, value in await cursor.fetchall()}

    async def schema_version(self) -> int:
        async with self.db.execute("SELECT MAX(version) FROM schema_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0] or 0) if row else 0
