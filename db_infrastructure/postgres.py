"""The PostgreSQL store (asyncpg), used when DATABASE_URL or POSTGRES_HOST is set."""

from __future__ import annotations

import time

import asyncpg

from core.errors import BackendUnavailable
from core.settings import redact_url
from db_infrastructure.base import Store
from db_infrastructure.errors import MigrationError
from db_infrastructure.migrate import SCHEMA_VERSION_DDL, load_migrations

#: Advisory lock id held while migrating, so concurrent start-ups apply each file once.
_MIGRATION_LOCK = 0x5743_0001


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
        server_settings = {"application_name": "streamcore"}
        if self._schema:
            server_settings["search_path"] = self._schema
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=5, timeout=5, server_settings=server_settings
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
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

    async def get(self, namespace: str, key: str) -> str | None:
        value = await self.pool.fetchval(
            "SELECT value FROM kv WHERE namespace = $1 AND key = $2 "
            "AND (expires_at IS NULL OR expires_at > $3)",
            namespace,
            key,
            time.time(),
        )
        return None if value is None else str(value)

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

    async def take(self, namespace: str, key: str) -> str | None:
        row = await self.pool.fetchrow(
            "DELETE FROM kv WHERE namespace = $1 AND key = $2 RETURNING value, expires_at",
            namespace,
            key,
        )
        if row is None or (row["expires_at"] is not None and row["expires_at"] <= time.time()):
            return None
        return str(row["value"])

    async def delete(self, namespace: str, key: str) -> bool:
        status = await self.pool.execute(
            "DELETE FROM kv WHERE namespace = $1 AND key = $2", namespace, key
        )
        return status != "DELETE 0"

    async def items(self, namespace: str) -> dict[str, str]:
        now = time.time()
        await self.pool.execute(
            "DELETE FROM kv WHERE namespace = $1 AND expires_at <= $2", namespace, now
        )
        rows = await self.pool.fetch(
            "SELECT key, value FROM kv WHERE namespace = $1 ORDER BY key", namespace
        )
        return {str(row["key"]): str(row["value"]) for row in rows}

    async def schema_version(self) -> int:
        return int(await self.pool.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
