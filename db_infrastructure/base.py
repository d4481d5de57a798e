"""The store interface: small namespaced key-value persistence with optional expiry.

Two backends, one file each: `db_infrastructure.sqlite` (the embedded default) and
`db_infrastructure.postgres`.
Namespaces keep concerns apart (`tokens`, `oauth_state`, `worker_state:<name>`,
`client_keys`); values are text, usually JSON, and callers encrypt what must be secret.
Expired values are invisible to every read and removed lazily.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


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
