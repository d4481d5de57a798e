"""The root of StreamCore's own errors and the leaves shared by every package.

    StreamCoreError                  anything StreamCore raises on purpose; its message tells
     |                               the user what to do
     +-- ConfigError                 a setting is invalid: fix the environment or .env
     +-- BackendUnavailable          Redis or PostgreSQL cannot be reached at start-up

Packages keep their own root (`bus.errors.BusError`, `db_infrastructure.errors.StoreError`,
...) under
StreamCoreError, so `except StreamCoreError` at the edge turns any of them into one log line.
"""


class StreamCoreError(Exception):
    """Raised on purpose by StreamCore; the message is meant for the user."""


class ConfigError(StreamCoreError):
    """A setting is missing or invalid. The message names the variable and the fix."""


class BackendUnavailable(StreamCoreError):
    """A backing service (Redis, PostgreSQL) is unreachable. The message names the fix."""
