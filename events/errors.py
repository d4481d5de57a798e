"""Errors raised by the events package.

EventsError (core.errors.StreamCoreError)
 +-- InvalidEventName    an emitted name has characters outside letters, digits, . _ -
 +-- EventDataError      emitted data does not serialise to JSON; names the field
"""

from core.errors import StreamCoreError


class EventsError(StreamCoreError):
    """Root of every events error."""


class InvalidEventName(EventsError):
    """Use only letters, digits, `.`, `_` and `-` in event names (at most 100 characters)."""


class EventDataError(EventsError):
    """The event data must be JSON: dicts, lists, strings, numbers, booleans and null."""
