"""Server-side event filters: which event names a client receives.

A filter is a comma-separated list of tokens (`?events=follow,chat,hype_train.*`):

- a token with `*`, `?` or `[` is a glob over the whole name: `alert.*`, `hype_train.*`;
- a token with a dot is an exact name: `alert.follow`, `stream.online`;
- a bare word matches any dot-separated segment: `follow` -> `alert.follow`, `chat` ->
  `chat.message`, `sub` -> `alert.sub` (not `alert.resub`).

An empty filter matches everything. A client key's scope uses the same syntax; a client gets
what matches both its key's scope and its own `?events=`.
"""

from __future__ import annotations

import fnmatch
import re

from events.errors import InvalidFilter

__all__ = ["ALL_EVENTS", "EventFilter"]

_TOKEN = re.compile(r"^[A-Za-z0-9._*?\[\]!-]{1,100}$")
#: Names remembered per filter; beyond it the cache is reset (names are few in practice).
_CACHE_LIMIT = 4_096


class EventFilter:
    """An immutable set of tokens; `matches(name)` is memoised per name."""

    __slots__ = ("_cache", "_exact", "_globs", "_segments", "tokens")

    def __init__(self, tokens: tuple[str, ...] = ()) -> None:
        self.tokens = tokens
        self._exact = frozenset(t for t in tokens if "." in t and not _is_glob(t))
        self._segments = frozenset(t for t in tokens if "." not in t and not _is_glob(t))
        self._globs = tuple(t for t in tokens if _is_glob(t))
        self._cache: dict[str, bool] = {}

    @classmethod
    def parse(cls, text: str | None) -> EventFilter:
        """Parse `follow,chat,alert.*`; raise InvalidFilter naming the bad token."""
        if not text:
            return ALL_EVENTS
        tokens = []
        for raw in text.split(","):
            token = raw.strip()
            if not token:
                continue
            if not _TOKEN.match(token):
                raise InvalidFilter(
                    f"Invalid event filter {token[:40]!r}: use names such as follow, "
                    "alert.follow or alert.* separated by commas"
                )
            tokens.append(token)
        return cls(tuple(dict.fromkeys(tokens))) if tokens else ALL_EVENTS

    @property
    def is_everything(self) -> bool:
        return not self.tokens

    def matches(self, name: str) -> bool:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        result = self._compute(name)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[name] = result
        return result

    def _compute(self, name: str) -> bool:
        if not self.tokens or name in self._exact:
            return True
        if self._segments and not self._segments.isdisjoint(name.split(".")):
            return True
        return any(fnmatch.fnmatchcase(name, glob) for glob in self._globs)

    def __str__(self) -> str:
        return ",".join(self.tokens)

    def __repr__(self) -> str:
        return f"EventFilter({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EventFilter) and self.tokens == other.tokens

    def __hash__(self) -> int:
        return hash(self.tokens)


def _is_glob(token: str) -> bool:
    return any(char in token for char in "*?[")


class CombinedFilter:
    """Both filters must match (a key's scope and the client's own `?events=`)."""

    __slots__ = ("_cache", "first", "second")

    def __init__(self, first: EventFilter, second: EventFilter) -> None:
        self.first = first
        self.second = second
        self._cache: dict[str, bool] = {}

    def matches(self, name: str) -> bool:
        cached = self._cache.get(name)
        if cached is None:
            cached = self.first.matches(name) and self.second.matches(name)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[name] = cached
        return cached


def combine(scope: EventFilter, requested: EventFilter) -> EventFilter | CombinedFilter:
    """The filter a client gets: the key scope narrowed by what the client asked for."""
    if scope.is_everything:
        return requested
    if requested.is_everything:
        return scope
    return CombinedFilter(scope, requested)


ALL_EVENTS = EventFilter(())
