"""The runtime's side of what a worker finds on `self` (the types are in `workers.base`).

- `StoredState` implements `WorkerState` (`self.state`): small JSON values persisted in the
  store under the namespace `worker_state:<name>` (per channel other than the default one:
  `worker_state:<name>:channel:<id>`), so they survive restarts and are shared by every
  process running the worker.
- `worker_environment` reads the `WORKER_<NAME>_<KEY>` variables once, at the edge, for the
  runtime to hand each worker its `WorkerConfig` (`self.config`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from core.constants import WORKER_STATE_NAMESPACE
from db_infrastructure import Store
from db_infrastructure.errors import NotANumber
from workers.base import CONFIG_PREFIX, EMIT_SOURCE, WorkerStateError

#: State is for counters and small facts (last follower, goal progress), not for data sets.
MAX_STATE_VALUE_BYTES = 64 * 1024


class StoredState:
    """Per-worker key-value state with JSON values, persisted in the store.

    `incr` is atomic across processes: replicas and `streamcore workers` processes running the
    same worker can count on one key and no increment is lost. `set` after `get` is not: the
    last write wins.
    """

    def __init__(
        self,
        store: Store,
        worker_name: str,
        default_channel: Callable[[], str | None] | None = None,
    ) -> None:
        self._store = store
        self._default_channel = default_channel
        self.base_namespace = WORKER_STATE_NAMESPACE.format(worker=worker_name)

    @property
    def namespace(self) -> str:
        """The worker's namespace; for an event of a channel other than the default one, a
        namespace of that channel's (so channels never read or overwrite each other's keys,
        and a single-channel set-up keeps the keys it always had)."""
        source = EMIT_SOURCE.get()
        channel = source.channel if source is not None else None
        if channel is None or self._default_channel is None:
            return self.base_namespace
        if channel.id == self._default_channel():
            return self.base_namespace
        return f"{self.base_namespace}:channel:{channel.id}"

    async def get(self, key: str, default: Any = None) -> Any:
        raw = await self._store.get(self.namespace, key)
        return default if raw is None else json.loads(raw)

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None:
        """Store `value` (JSON); with `ttl_s` it disappears after that many seconds."""
        await self._store.put(self.namespace, key, self._encode(key, value), ttl_s)

    async def incr(self, key: str, amount: int | float = 1) -> int | float:
        """Add `amount` to a numeric value (missing counts as 0) and return the new value.

        Atomic across processes: the store adds in one database statement. Like `set` without
        `ttl_s`, the value no longer expires; an expired value counts as missing.
        """
        if isinstance(amount, float):
            self._encode(key, amount)  # NaN and infinity fail here, as they do in set()
        try:
            return await self._store.incr(self.namespace, key, amount)
        except NotANumber as error:
            if error.stored is None:  # the sum overflowed a float
                raise WorkerStateError(
                    f"state {key!r} + {amount!r} is out of the range of a float; "
                    "reset it with set()"
                ) from None
            current = json.loads(error.stored)
        raise WorkerStateError(
            f"state {key!r} holds {type(current).__name__}, not a number; "
            "use set() for it or another key for the counter"
        )

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


def worker_environment(environ: Mapping[str, str], env_file: Path | None = None) -> dict[str, str]:
    """The WORKER_* variables of `environ` and of a `.env` file, for the edge to pass down.

    The process environment wins over the file, as it does for Settings.
    """
    found: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        found.update(
            {
                key: value
                for key, value in dotenv_values(env_file).items()
                if value is not None and key.upper().startswith(CONFIG_PREFIX)
            }
        )
    found.update({k: v for k, v in environ.items() if k.upper().startswith(CONFIG_PREFIX)})
    return found
