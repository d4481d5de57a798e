"""Errors raised by the store.

StoreError (core.errors.StreamCoreError)
 +-- MigrationError      a migration file failed to apply; the message names the file.
 +-- StoreUnavailable    the database stopped answering while running; retry later (HTTP 503).
"""

from core.errors import StreamCoreError


class StoreError(StreamCoreError):
    """Root of every store error."""


class MigrationError(StoreError):
    """A numbered SQL file in db_infrastructure/migrations failed; fix it and restart."""


class StoreUnavailable(StoreError):
    """The database cannot be reached right now; the call may succeed later."""
