"""What a worker finds on `self`: persisted state, its settings, and the bound services.

- `WorkerState` (`self.state`): small JSON values persisted in the store under the namespace
  `worker_state:<name>`, so they survive restarts and are shared by every process running the
  worker.
- `WorkerConfig` (`self.config`): the worker's own settings, `WORKER_<NAME>_<KEY>` variables,
  read once at start-up by the edge (`worker_environment`) and passed to the runtime.
- `WorkerToolkit`: the bundle the runtime binds to each worker instance.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.constants import WORKER_STATE_NAMESPACE
from events.publisher import EventPublisher
from store import Store
from workers.errors import WorkerStateError

#: State is for counters and small facts (last follower, goal progress), not for data sets.
MAX_STATE_VALUE_BYTES = 64 * 1024

#: Prefix of every per-worker setting in the environment: WORKER_<NAME>_<KEY>.
CONFIG_PREFIX = "WORKER_"


class WorkerState:
    """Per-worker key-value state with JSON values, persisted in the store.

    `incr` is atomic within one process only; two processes running the same worker can race
    on the same key (the last write wins), so keep cross-process counters idempotent.
    """

    def __init__(self, store: Store, worker_name: str) -> None:
        self._store = store
        self.namespace = WORKER_STATE_NAMESPACE.format(worker=worker_name)
        self._lock = asyncio.Lock()

    async def get(self, key: str, default: Any = None) -> Any:
        raw = await self._store.get(self.namespace, key)
        return default if raw is None else json.loads(raw)

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None:
        """Store `value` (JSON); with `ttl_s` it disappears after that many seconds."""
        await self._store.put(self.namespace, key, self._encode(key, value), ttl_s)

    async def incr(self, key: str, amount: int | float = 1) -> int | float:
        """Add `amount` to a numeric value (missing counts as 0) and return the new value."""
        async with self._lock:
            current = await self.get(key, 0)
            if not isinstance(current, int | float) or isinstance(current, bool):
                raise WorkerStateError(
                    f"state {key!r} holds {type(current).__name__}, not a number; "
                    "use set() for it or another key for the counter"
                )
            value = current + amount
            await self.set(key, value)
            return value

    async def delete(self, key: str) -> bool:
        return await self._store.delete(self.namespace, key)

    async def items(self) -> dict[str, Any]:
        return {
            key: json.loads(raw) for key, raw in (await self._store.items(self.namespace)).items()
        }

    @staticmethod
    def _encode(key: str, value: Any) -> str:
        try:
            text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError):
            raise WorkerStateError(
                f"state {key!r}: {type(value).__name__} is not JSON; store dicts, lists, "
                "strings, numbers, booleans or None"
            ) from None
        if len(text.encode()) > MAX_STATE_VALUE_BYTES:
            raise WorkerStateError(
                f"state {key!r} is larger than {MAX_STATE_VALUE_BYTES} bytes; state is for "
                "small values, keep large data elsewhere"
            )
        return text


class WorkerConfig(Mapping[str, str]):
    """A worker's settings: `WORKER_GREETER_MESSAGE=hi` is `self.config["message"]`."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = {key.lower(): value for key, value in (values or {}).items()}

    @classmethod
    def for_worker(cls, worker_name: str, environ: Mapping[str, str]) -> WorkerConfig:
        """The WORKER_<NAME>_* entries of `environ`, keys lower-cased without the prefix."""
        prefix = f"{CONFIG_PREFIX}{worker_name.upper()}_"
        return cls(
            {
                key[len(prefix) :]: value
                for key, value in environ.items()
                if key.upper().startswith(prefix) and len(key) > len(prefix)
            }
        )

    def __getitem__(self, key: str) -> str:
        return self._values[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def get_int(self, key: str, default: int) -> int:
        raw = self.get(key)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise WorkerStateError(f"setting {key!r} must be a whole number, got {raw!r}") from None

    def get_bool(self, key: str, default: bool) -> bool:
        raw = self.get(key)
        if raw is None:
            return default
        return raw.strip().lower() in {"1", "true", "yes", "on"}

    def __repr__(self) -> str:
        # Values may be secrets (webhook URLs, API keys): show the keys only.
        return f"WorkerConfig(keys={sorted(self._values)})"


def worker_environment(environ: Mapping[str, str], env_file: Path | None = None) -> dict[str, str]:
    """The WORKER_* variables of `environ` and of a `.env` file, for the edge to pass down.

    The process environment wins over the file, as it does for Settings.
    """
    found: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        from dotenv import dotenv_values

        found.update(
            {
                key: value
                for key, value in dotenv_values(env_file).items()
                if value is not None and key.upper().startswith(CONFIG_PREFIX)
            }
        )
    found.update({k: v for k, v in environ.items() if k.upper().startswith(CONFIG_PREFIX)})
    return found


@dataclass
class WorkerToolkit:
    """Everything the runtime binds to a worker instance."""

    publisher: EventPublisher
    state: WorkerState
    config: WorkerConfig
    logger: logging.Logger
    twitch: Any = None
