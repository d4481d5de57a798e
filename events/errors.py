"""Errors raised by the events package.

EventsError (core.errors.StreamCoreError)
 +-- InvalidEventName    an emitted name has characters outside letters, digits, . _ -
 +-- EventDataError      emitted data does not serialise to JSON; names the field
 +-- InvalidFilter       `?events=` or a key scope has a malformed token
 +-- InvalidSinceId      `?since=` is not a stream id such as 1700000000000-0
 +-- ClientKeyError      client keys
      +-- KeyNameTaken   `keys create --name` reuses the name of a live key
      +-- UnknownKey     `keys revoke` names no key
"""

from core.errors import StreamCoreError


class EventsError(StreamCoreError):
    """Root of every events error."""


class InvalidEventName(EventsError):
    """Use only letters, digits, `.`, `_` and `-` in event names (at most 100 characters)."""


class EventDataError(EventsError):
    """The event data must be JSON: dicts, lists, strings, numbers, booleans and null."""


class InvalidFilter(EventsError):
    """Filters are comma-separated names or globs: `follow,chat`, `alert.*`."""


class InvalidSinceId(EventsError):
    """`since` must be an event id as received in a frame's `id` (`<ms>-<seq>`)."""


class ClientKeyError(EventsError):
    """Root of client-key errors."""


class KeyNameTaken(ClientKeyError):
    """Pick another name, or revoke the existing key first."""


class UnknownKey(ClientKeyError):
    """No key has that name or id; `streamcore keys list` shows them."""
