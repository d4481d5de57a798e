"""Persistence: one store interface (`base.Store`), one backend per file, chosen by settings."""

from __future__ import annotations

from core.settings import Settings
from db_infrastructure.base import Store
from db_infrastructure.errors import MigrationError, StoreError, StoreUnavailable

__all__ = ["MigrationError", "Store", "StoreError", "StoreUnavailable", "create_store"]


def create_store(settings: Settings) -> Store:
    """PostgreSQL when DATABASE_URL or POSTGRES_HOST is set, otherwise SQLite.

    Each backend is imported only when chosen, so the embedded default never loads asyncpg.
    """
    dsn = settings.postgres_dsn
    if dsn:
        from db_infrastructure.postgres import PostgresStore

        return PostgresStore(dsn)
    from db_infrastructure.sqlite import SQLiteStore

    return SQLiteStore(settings.sqlite_path)
