"""The store interface: small namespaced key-value persistence with optional expiry.

Two backends, one file each: `db_infrastructure.sqlite` (the embedded default) and
`db_infrastructure.postgres`.
Namespaces keep concerns apart (`tokens`, `oauth_state`, `worker_state:<name>`,
`client_keys`); values are text, usually JSON, and callers encrypt what must be secret.
Expired values are invisible to every read and removed lazily.
`Store.incr` is the one method that looks inside a value: it adds to a JSON number in a single
statement, so counters shared by several processes (replicas, `streamcore workers`) stay exact.
"""

from __future__ import annotations

import json
import math
import re
from abc import ABC, abstractmethod

from db_infrastructure.errors import NotANumber

#: JSON numbers as Python's json module reads them (ASCII digits, optional surrounding JSON
#: whitespace): without fraction and exponent an int, otherwise a float. The PostgreSQL backend
#: sends the same patterns to the server, so both backends classify a value alike.
INT_JSON = re.compile(r"^[ \t\n\r]*-?(0|[1-9][0-9]*)[ \t\n\r]*$")
NUMBER_JSON = re.compile(r"^[ \t\n\r]*-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?[ \t\n\r]*$")


def incr_operands(amount: int | float) -> tuple[str, str]:
    """(`amount`, `0 + amount`) as JSON: what a backend adds, and what a missing key becomes."""
    if not isinstance(amount, int | float):
        raise TypeError(f"incr adds an int or a float, not {type(amount).__name__}")
    if isinstance(amount, float) and not math.isfinite(amount):
        raise NotANumber(f"cannot add {amount!r}: JSON has no NaN or infinity")
    # A bool adds as the int it is (json.dumps would write `true`); a missing key becomes
    # `0 + amount`, as a read-add-write would compute it.
    added = int(amount) if isinstance(amount, bool) else amount
    return json.dumps(added), json.dumps(0 + amount)


def incremented(namespace: str, key: str, value: str) -> int | float:
    """The number `Store.incr` stored, or NotANumber when the value there was not a number.

    The statement leaves a non-numeric value as it was and returns it, so the returned text
    alone tells the two outcomes apart.
    """
    if NUMBER_JSON.fullmatch(value) is None:
        raise NotANumber(f"{namespace} {key!r} holds {value[:40]!r}, not a number", value)
    number: int | float = json.loads(value)
    return number


class Store(ABC):
    #: "sqlite" or "postgresql", for logs and status.
    name: str

    @abstractmethod
    async def connect(self) -> None:
        """Open the database and apply pending migrations.

        Raises core.errors.BackendUnavailable when the database cannot be reached.
        """

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def get(self, namespace: str, key: str) -> str | None: ...

    @abstractmethod
    async def put(self, namespace: str, key: str, value: str, ttl_s: float | None = None) -> None:
        """Insert or replace; with `ttl_s` the value disappears after that many seconds."""

    @abstractmethod
    async def incr(self, namespace: str, key: str, amount: int | float) -> int | float:
        """Add `amount` to the JSON number at `key` in one atomic statement; return the sum.

        A missing or expired key counts as 0, and the result never expires (like `put` without
        `ttl_s`). int + int stays an int; any float makes a float. Several processes may
        increment one key concurrently and no increment is lost. Raises NotANumber, changing
        nothing, when the live value is not a JSON number or the sum is not a finite float.
        """

    @abstractmethod
    async def take(self, namespace: str, key: str) -> str | None:
        """Atomically read and delete (single-use values such as OAuth `state`)."""

    @abstractmethod
    async def delete(self, namespace: str, key: str) -> bool: ...

    @abstractmethod
    async def items(self, namespace: str) -> dict[str, str]:
        """Every live key and value of a namespace."""

    @abstractmethod
    async def schema_version(self) -> int:
        """The number of the newest applied migration."""
