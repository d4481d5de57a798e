"""Numbered SQL migrations from db_infrastructure/migrations, shared by both backends.

A file is named `NNNN_description.sql`; files apply in numeric order and each number is
recorded in `schema_version`, so applying is idempotent. Each backend holds a database-wide
lock while it checks and applies, so two processes starting at once apply each file once.
The SQL is kept to what SQLite and PostgreSQL both accept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from db_infrastructure.errors import MigrationError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

SCHEMA_VERSION_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"Migration file {path.name} is misnamed; use NNNN_description.sql"
            )
        migrations.append(Migration(int(match.group(1)), path.name, path.read_text()))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError("Two migration files share a number in db_infrastructure/migrations")
    return migrations
