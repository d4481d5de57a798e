"""The PostgreSQL store (asyncpg), used when DATABASE_URL or POSTGRES_HOST is set."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import asyncpg

from core.errors import BackendUnavailable
from core.settings import redact_url
from db_infrastructure.base import (
    INT_JSON,
    NUMBER_JSON,
    Store,
    incr_operands,
    incremented,
)
from db_infrastructure.errors import MigrationError, NotANumber, StoreUnavailable
from db_infrastructure.migrate import SCHEMA_VERSION_DDL, load_migrations

#: Advisory lock id held while migrating, so concurrent start-ups apply each file once.
_MIGRATION_LOCK = 0x5743_0001


#: A database that stopped answering must not hang requests: a connection attempt and a
#: statement each give up after these (the store's statements take milliseconds).
CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 5.0
#: What asyncpg raises when the server is gone, refusing, restarting or silent.
_OUTAGES = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
)

#: One statement: the row lock taken by ON CONFLICT serialises concurrent increments of a key
#: across connections and processes. $1 namespace, $2 key, $3 JSON for a missing or expired key,
#: $4 now, $5 the JSON amount, $6 INT_JSON, $7 NUMBER_JSON. int + int adds as numeric (Python
#: ints have no size limit); otherwise as float8, whose text gets ".0" when it has no point or
#: exponent, so it still reads back as a float. A value that is not a number gives NULL and the
#: row is written back unchanged, which RETURNING reports.
_INCR = """
INSERT INTO kv AS old (namespace, key, value, expires_at, updated_at)
VALUES ($1, $2, $3, NULL, $4)
ON CONFLICT (namespace, key) DO UPDATE SET (value, expires_at, updated_at) = (
    SELECT COALESCE(added.value, old.value),
           CASE WHEN added.value IS NULL THEN old.expires_at END,
           CASE WHEN added.value IS NULL THEN old.updated_at ELSE excluded.updated_at END
    FROM (SELECT CASE
        WHEN old.expires_at <= excluded.updated_at THEN excluded.value
        WHEN old.value ~ $6::text AND $5::text ~ $6::text
            THEN (old.value::numeric + $5::text::numeric)::text
        WHEN old.value ~ $7::text THEN regexp_replace(
            (old.value::float8 + $5::text::float8)::text, '^(-?[0-9]+)$', '\\1.0'
        )
    END AS value) AS added
)
RETURNING value
"""

P = ParamSpec("P")
R = TypeVar("R")


def _outages_surface(
    call: Callable[P, Coroutine[Any, Any, R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """Turn a database outage into StoreUnavailable, which callers answer with 503 / 1013."""

    @functools.wraps(call)
    async def surfaced(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await call(*args, **kwargs)
        except _OUTAGES as error:
            raise StoreUnavailable(
                f"PostgreSQL is unavailable ({type(error).__name__}: {error}); retry later"
            ) from None

    return surfaced


class PostgresStore(Store):
    name = "postgresql"

    def __init__(self, dsn: str, schema: str | None = None) -> None:
        self._dsn = dsn
        # A schema other than `public` isolates tests (and several installs in one database).
        self._schema = schema
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("PostgresStore used before connect()")
        return self._pool

    async def connect(self) -> None:
        # float8 as text must read back as the same float (incr stores it so): any positive
        # setting gives the shortest exact form since PostgreSQL 12, 17 digits before.
        server_settings = {"application_name": "streamcore", "extra_float_digits": "3"}
        if self._schema:
            server_settings["search_path"] = self._schema
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                # No floor: asyncpg would keep reconnecting to restore it during an outage, with
                # a traceback in the log each time. Released connections are still reused.
                min_size=0,
                max_size=5,
                timeout=CONNECT_TIMEOUT_S,
                command_timeout=COMMAND_TIMEOUT_S,
                server_settings=server_settings,
            )
            # Without a floor the pool opens nothing yet: connect once, so a wrong URL or a
            # database that is down is reported here, at start-up, in one line.
            async with self._pool.acquire() as connection:
                await connection.execute("SELECT 1")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
            if self._pool is not None:
                await self._pool.close()
                self._pool = None
            raise BackendUnavailable(
                f"Cannot reach PostgreSQL at {redact_url(self._dsn)} ({error}). "
                "Start PostgreSQL or fix DATABASE_URL / POSTGRES_* (unset them to use SQLite)."
            ) from None
        await self._migrate()

    async def _migrate(self) -> None:
        migrations = load_migrations()
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            if self._schema:
                await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            await connection.execute(SCHEMA_VERSION_DDL)
            applied = {
                r["version"] for r in await connection.fetch("SELECT version FROM schema_version")
            }
            for migration in migrations:
                if migration.version in applied:
                    continue
                try:
                    await connection.execute(migration.sql)
                except asyncpg.PostgresError as error:
                    raise MigrationError(f"Migration {migration.name} failed: {error}") from None
                await connection.execute(
                    "INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    time.time(),
                )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @_outages_surface
    async def get(self, namespace: str, key: str) -> str | None:
        value = await self.pool.fetchval(
            "SELECT value FROM kv WHERE namespace = $1 AND key = $2 "
            "AND (expires_at IS NULL OR expires_at > $3)",
            namespace,
            key,
            time.time(),
        )
        return None if value is None else str(value)

    @_outages_surface
    async def put(self, namespace: str, key: str, value: str, ttl_s: float | None = None) -> None:
        now = time.time()
        await self.pool.execute(
            "INSERT INTO kv (namespace, key, value, expires_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (namespace, key) DO UPDATE SET "
            "value = excluded.value, expires_at = excluded.expires_at, "
            "updated_at = excluded.updated_at",
            namespace,
            key,
            value,
            None if ttl_s is None else now + ttl_s,
            now,
        )

    @_outages_surface
    async def incr(self, namespace: str, key: str, amount: int | float) -> int | float:
        added, first = incr_operands(amount)
        try:
            value = await self.pool.fetchval(
                _INCR,
                namespace,
                key,
                first,
                time.time(),
                added,
                INT_JSON.pattern,
                NUMBER_JSON.pattern,
            )
        except asyncpg.NumericValueOutOfRangeError:
            raise NotANumber(
                f"{namespace} {key!r} + {added} is out of the range of a float"
            ) from None
        return incremented(namespace, key, str(value))

    @_outages_surface
    async def take(self, namespace: str, key: str) -> str | None:
        row = await self.pool.fetchrow(
            "DELETE FROM kv WHERE namespace = $1 AND key = $2 RETURNING value, expires_at",
            namespace,
            key,
        )
        if row is None or (row["expires_at"] is not None and row["expires_at"] <= time.time()):
            return None
        return str(row["value"])

    @_outages_surface
    async def delete(self, namespace: str, key: str) -> bool:
        status = await self.pool.execute(
            "DELETE FROM kv WHERE namespace = $1 AND key = $2", namespace, key
        )
        return status != "DELETE 0"

    @_outages_surface
    async def items(self, namespace: str) -> dict[str, str]:
        now = time.time()
        await self.pool.execute(
            "DELETE FROM kv WHERE namespace = $1 AND expires_at <= $2", namespace, now
        )
        rows = await self.pool.fetch(
            "SELECT key, value FROM kv WHERE namespace = $1 ORDER BY key", namespace
        )
        return {str(row["key"]): str(row["value"]) for row in rows}

    @_outages_surface
    async def schema_version(self) -> int:
        return int(await self.pool.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
