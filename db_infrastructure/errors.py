"""Errors raised by the store.

StoreError (core.errors.StreamCoreError)
 +-- MigrationError      a migration file failed to apply; the message names the file.
 +-- StoreUnavailable    the database stopped answering while running; retry later (HTTP 503).
 +-- NotANumber          `Store.incr` found a value that is not a JSON number.
"""

from core.errors import StreamCoreError


class StoreError(StreamCoreError):
    """Root of every store error."""


class MigrationError(StoreError):
    """A numbered SQL file in db_infrastructure/migrations failed; fix it and restart."""


class StoreUnavailable(StoreError):
    """The database cannot be reached right now; the call may succeed later."""


class NotANumber(StoreError):
    """`Store.incr` cannot add: the live value is not a JSON number, or the sum is not finite.

    `stored` is the value found (unchanged by the call), None when the sum overflowed.
    """

    def __init__(self, message: str, stored: str | None = None) -> None:
        super().__init__(message)
        self.stored = stored
