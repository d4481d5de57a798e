"""Persistence: one interface (`store.base.Store`), one backend per file, chosen by settings."""

from __future__ import annotations

from core.settings import Settings
from store.base import Store
from store.errors import MigrationError, StoreError

__all__ = ["MigrationError", "Store", "StoreError", "create_store"]


def create_store(settings: Settings) -> Store:
    """PostgreSQL when DATABASE_URL or POSTGRES_HOST is set, otherwise SQLite."""
    dsn = settings.postgres_dsn
    if dsn:
        from store.postgres import PostgresStore

        return PostgresStore(dsn)
    from store.sqlite import SQLiteStore

    return SQLiteStore(settings.sqlite_path)
