"""Errors raised by the bus.

BusError (core.errors.StreamCoreError)
 +-- BusUnavailable      the backend (Redis) cannot be reached right now; retry later.
                         Publishing while Redis is down raises this, and the caller
                         decides whether to retry or report.
"""

from core.errors import StreamCoreError


class BusError(StreamCoreError):
    """Root of every bus error."""


class BusUnavailable(BusError):
    """The bus backend cannot be reached; the operation did not happen. Retry later."""
