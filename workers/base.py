"""`BaseWorker`: subclass it in a file in `workers/` and the channel comes alive.

```python
from workers.base import BaseWorker

class GreeterWorker(BaseWorker):
    required_scopes = ["moderator:read:followers", "user:write:chat"]

    def get_subscriptions(self, broadcaster_id, moderator_id):
        return [{"type": "channel.follow", "version": "2",
                 "condition": {"broadcaster_user_id": broadcaster_id,
                               "moderator_user_id": moderator_id}}]

    async def handle(self, event_type, payload):
        if event_type == "channel.follow":
            await self.emit("follow", {"user": payload["event"]["user_name"]})
```

Every concrete subclass registers itself through the metaclass. A class is abstract (not
registered) when it still has abstract methods or sets `abstract = True` in its own body, which
is how a shared base for several workers opts out. Discovery (`worker_runtime.contract`)
checks each class against the contract and reports what it gets wrong by name instead of
running it. The names in `RESERVED_NAMES` are BaseWorker's own and may not be redefined.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from core.channels import ChannelTag
from core.constants import EMIT_ONCE_KEY
from core.errors import StreamCoreError
from events.publisher import EventPublisher, check_event_name
from tokens.helix import HelixClient
from workers.models import EventModel, parse_event

__all__ = [
    "RESERVED_NAMES",
    "BaseWorker",
    "TwitchUnavailable",
    "WorkerConfig",
    "WorkerEmitError",
    "WorkerError",
    "WorkerNotBound",
    "WorkerState",
    "WorkerStateError",
    "WorkerToolkit",
    "registered_classes",
]

#: Prefix of every per-worker setting in the environment: WORKER_<NAME>_<KEY>.
CONFIG_PREFIX = "WORKER_"

_registered: dict[tuple[str, str], type[BaseWorker]] = {}
T = TypeVar("T")


@dataclass
class EmitSource:
    """The entry one `handle` attempt works on; the runtime sets it (`EMIT_SOURCE`) around
    each attempt, so the n-th emit of a retried attempt gets the n-th emit's key and id."""

    #: "<stream>/<entry id>" of the entry handled (for a replay: of the original entry).
    entry: str
    emitted: int = 0
    #: The channel of the notification handled (its subscription's broadcaster).
    channel: ChannelTag | None = None

    def next_key(self, worker_name: str) -> str:
        key = EMIT_ONCE_KEY.format(worker=worker_name, source=self.entry, index=self.emitted)
        self.emitted += 1
        return key


#: Set by the runtime while a worker's `handle` runs; None outside it (an emit from a timer
#: or an action is not tied to an entry, so it is not de-duplicated).
EMIT_SOURCE: ContextVar[EmitSource | None] = ContextVar("streamcore_emit_source", default=None)


# -- errors a worker meets -----------------------------------------------------------------------


class WorkerError(StreamCoreError):
    """Root of every worker error (`worker_runtime.errors` adds the machinery's leaves).

    WorkerError (core.errors.StreamCoreError)
     +-- WorkerNotBound      emit/state used on a worker the runtime did not start
     +-- TwitchUnavailable   `self.twitch` used while no Helix client is connected
     +-- WorkerEmitError     emitted data breaks the worker's `emits` declaration
     +-- WorkerStateError    a state value is not JSON or too large; a setting is malformed
    """


class WorkerNotBound(WorkerError):
    """The worker was created outside a WorkerRuntime, so it has nowhere to emit or store."""


class TwitchUnavailable(WorkerError):
    """No Helix client was given to the runtime; authorize StreamCore first."""


class WorkerEmitError(WorkerError):
    """The emitted event breaks the worker's own `emits` declaration."""


class WorkerStateError(WorkerError):
    """`self.state` values must be JSON and small; settings must parse."""


# -- what the runtime binds to a worker ----------------------------------------------------------


class WorkerState(Protocol):
    """`self.state`: small JSON values persisted in the store, shared by every process that
    runs the worker (the runtime's implementation is `worker_runtime.toolkit.StoredState`)."""

    async def get(self, key: str, default: Any = None) -> Any: ...

    async def set(self, key: str, value: Any, ttl_s: float | None = None) -> None: ...

    async def incr(self, key: str, amount: int | float = 1) -> int | float: ...

    async def delete(self, key: str) -> bool: ...

    async def items(self) -> dict[str, Any]: ...


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


class ChannelHelix(Protocol):
    """Helix clients per channel (`tokens.channel_tokens.ChannelClients`)."""

    def default_id(self) -> str | None: ...

    def for_channel(self, channel_id: str) -> HelixClient: ...

    async def for_account(self, role: str) -> HelixClient | None: ...


@dataclass
class WorkerToolkit:
    """Everything the runtime binds to a worker instance."""

    publisher: EventPublisher
    state: WorkerState
    config: WorkerConfig
    logger: logging.Logger
    twitch: HelixClient | None = None
    #: The other channels' Helix clients (tokens.channel_tokens.ChannelClients), if any.
    channels: ChannelHelix | None = None


# -- the contract ----------------------------------------------------------------------------------


def default_worker_name(class_name: str) -> str:
    """`GreeterWorker` -> "greeter", `HypeTrainWorker` -> "hype_train"."""
    base = class_name.removesuffix("Worker") or class_name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", base).lower()


class WorkerMeta(ABCMeta):
    """Registers every concrete subclass; see the module docstring for what counts as abstract."""

    def __init__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> None:
        super().__init__(name, bases, namespace)
        if "name" not in namespace:
            # Derived per class, so a subclass of a concrete worker does not inherit its name.
            cls.name = default_worker_name(name)
        if namespace.get("abstract", False) or inspect.isabstract(cls):
            return
        # Keyed by module and qualified name, so re-importing a module replaces, not duplicates.
        _registered[(cls.__module__, cls.__qualname__)] = cls  # type: ignore[assignment]


def registered_classes() -> list[type[BaseWorker]]:
    """Every concrete worker class defined so far, in definition order."""
    return list(_registered.values())


class BaseWorker(metaclass=WorkerMeta):
    """A drop-in worker. Override `get_subscriptions` and `handle`; see the module docstring."""

    #: Unique worker name; derived from the class name unless set.
    name: ClassVar[str]
    #: OAuth scopes the worker's subscriptions and Helix calls need (only those).
    required_scopes: ClassVar[list[str]] = []
    #: Times a failing `handle` is retried before the entry is dead-lettered.
    max_retries: ClassVar[int] = 3
    #: Seconds one `handle` call may take before it counts as a failure.
    handle_timeout_s: ClassVar[float] = 30.0
    #: First delay between retries, doubled each time (capped at 30 s).
    retry_delay_s: ClassVar[float] = 1.0
    #: Event name -> Pydantic model of its data (or None); when set, emits are checked against
    #: it and the schemas are published at GET /events/schema.
    emits: ClassVar[dict[str, type[BaseModel] | None]] = {}

    _toolkit: WorkerToolkit | None = None

    def get_subscriptions(self, broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
        """EventSub subscriptions to create: [{"type", "version", "condition"}, ...].

        `moderator_id` is TWITCH_MODERATOR_ID when set, otherwise the broadcaster's id.
        """
        return []

    @abstractmethod
    async def handle(self, event_type: str, payload: dict[str, Any]) -> None:
        """Handle one notification; `payload` is {"subscription": ..., "event": ...}.

        Returning acks the event. Raising (or exceeding `handle_timeout_s`) retries it up to
        `max_retries` times, after which it is dead-lettered.
        """

    # -- toolkit ---------------------------------------------------------------------------

    def bind(self, toolkit: WorkerToolkit) -> None:
        """Attach the runtime's services; called by WorkerRuntime before the first event."""
        self._toolkit = toolkit

    def _bound(self, what: str) -> WorkerToolkit:
        if self._toolkit is None:
            raise WorkerNotBound(
                f"worker {self.name!r} has no {what}: it was created outside a WorkerRuntime. "
                "Run it through WorkerRuntime (tests: see tests/workers for the fixtures)."
            )
        return self._toolkit

    @property
    def twitch(self) -> HelixClient:
        """The Helix client, e.g. `await self.twitch.send_chat_message("hi")`: inside `handle`,
        the token of the event's channel (the default channel's otherwise)."""
        toolkit = self._bound("Twitch client")
        channel, channels = self.channel, toolkit.channels
        if channel is not None and channels is not None and channel.id != channels.default_id():
            return channels.for_channel(channel.id)
        client = toolkit.twitch
        if client is None:
            raise TwitchUnavailable(
                f"worker {self.name!r} used self.twitch, but no Twitch connection is "
                "configured: authorize StreamCore (GET /tokens/link) and restart the workers."
            )
        return client

    async def twitch_as(self, role: Literal["bot", "moderator"]) -> HelixClient:
        """The Helix client of the bot account (it chats for every channel) or of the
        moderator account (the default channel's), when one is set; else `self.twitch`.
        Set them with GET /tokens/link?account=bot|moderator."""
        channels = self._bound("Twitch client").channels
        channel = self.channel
        if channels is not None and (
            role == "bot" or channel is None or channel.id == channels.default_id()
        ):
            client = await channels.for_account(role)
            if client is not None:
                return client
        return self.twitch

    @property
    def logger(self) -> logging.Logger:
        if self._toolkit is not None:
            return self._toolkit.logger
        return logging.getLogger(f"streamcore.workers.{self.name}")

    @property
    def state(self) -> WorkerState:
        """Small JSON key-value state persisted in the store (`worker_state:<name>`); inside
        `handle` for a channel other than the default one, that channel's own keys."""
        return self._bound("state").state

    @property
    def config(self) -> WorkerConfig:
        """This worker's WORKER_<NAME>_<KEY> settings, read once at start-up."""
        if self._toolkit is None:
            return WorkerConfig()
        return self._toolkit.config

    async def run_in_thread(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking call (a sync HTTP client, file or serial I/O, heavy CPU) in a worker
        thread and await its result, so the process's one event loop (the API, the pings,
        every other worker) keeps running meanwhile: `await self.run_in_thread(requests.get,
        url)`."""
        return await asyncio.to_thread(function, *args, **kwargs)

    def parse(self, payload: dict[str, Any]) -> EventModel:
        """The typed model of `payload["event"]` for the payload's subscription type."""
        return parse_event(payload["subscription"]["type"], payload["event"])

    async def emit(self, name: str, data: Any) -> str:
        """Publish `data` as event `name` to overlays and devices; returns the event id.

        Inside `handle`, the n-th emit for an entry has a stable id: when `handle` is retried,
        an emit that already went out is not sent again and returns its first id.
        """
        publisher = self._bound("publisher").publisher
        check_event_name(name)
        checked = self._checked(name, data)
        source = EMIT_SOURCE.get()
        once_key = source.next_key(self.name) if source is not None else None
        return await publisher.publish(
            name, checked, origin=self.name, once_key=once_key, channel=self.channel
        )

    @property
    def channel(self) -> ChannelTag | None:
        """The channel of the notification being handled (`id`, `login`), else None: emits
        inside `handle` carry it, so clients filtering on that channel get them."""
        source = EMIT_SOURCE.get()
        return source.channel if source is not None else None

    def _checked(self, name: str, data: Any) -> Any:
        if not self.emits:
            return data.model_dump(mode="json") if isinstance(data, BaseModel) else data
        if name not in self.emits:
            raise WorkerEmitError(
                f"worker {self.name!r} emitted {name!r}, which its `emits` does not declare; "
                f"add it (declared: {', '.join(sorted(self.emits))})"
            )
        model = self.emits[name]
        if model is None:
            return data.model_dump(mode="json") if isinstance(data, BaseModel) else data
        try:
            checked = data if isinstance(data, model) else model.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "data"
            raise WorkerEmitError(
                f"worker {self.name!r} emitted {name!r} with a bad field data.{field}: "
                f"{first['msg']} (model {model.__name__})"
            ) from None
        return checked.model_dump(mode="json")


#: BaseWorker's own members: the runtime relies on them, so a plugin that defines one of these
#: names would silently break its worker. Discovery refuses such a class, naming the member.
RESERVED_NAMES = frozenset(
    {
        "bind",
        "twitch",
        "logger",
        "state",
        "config",
        "parse",
        "emit",
        "_toolkit",
        "_bound",
        "_checked",
    }
)
