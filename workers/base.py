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
is how a shared base for several workers opts out. `contract_violations(cls)` lists what a
class gets wrong; discovery reports those by name instead of running the class.
"""

from __future__ import annotations

import inspect
import logging
import re
from abc import ABCMeta, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ValidationError

from events.publisher import EVENT_NAME, check_event_name
from workers.errors import TwitchUnavailable, WorkerEmitError, WorkerNotBound
from workers.models import EventModel, parse_event
from workers.toolkit import WorkerConfig, WorkerState, WorkerToolkit

if TYPE_CHECKING:
    from tokens.helix import HelixClient

#: Names become consumer groups, stream keys and WORKER_<NAME>_* variables: keep them plain.
WORKER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SUBSCRIPTION_TYPE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
#: Ids used to ask a class which types it reads before any real id is known.
PLACEHOLDER_BROADCASTER_ID = "0000000001"
PLACEHOLDER_MODERATOR_ID = "0000000002"

_registered: dict[tuple[str, str], type[BaseWorker]] = {}


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
        """The Helix client, e.g. `await self.twitch.send_chat_message("hi")`."""
        client = self._bound("Twitch client").twitch
        if client is None:
            raise TwitchUnavailable(
                f"worker {self.name!r} used self.twitch, but no Twitch connection is "
                "configured: authorize StreamCore (GET /tokens/link) and restart the workers."
            )
        return client

    @property
    def logger(self) -> logging.Logger:
        if self._toolkit is not None:
            return self._toolkit.logger
        return logging.getLogger(f"streamcore.workers.{self.name}")

    @property
    def state(self) -> WorkerState:
        """Small JSON key-value state persisted in the store (`worker_state:<name>`)."""
        return self._bound("state").state

    @property
    def config(self) -> WorkerConfig:
        """This worker's WORKER_<NAME>_<KEY> settings, read once at start-up."""
        if self._toolkit is None:
            return WorkerConfig()
        return self._toolkit.config

    def parse(self, payload: dict[str, Any]) -> EventModel:
        """The typed model of `payload["event"]` for the payload's subscription type."""
        return parse_event(payload["subscription"]["type"], payload["event"])

    async def emit(self, name: str, data: Any) -> str:
        """Publish `data` as event `name` to overlays and devices; returns the event id."""
        publisher = self._bound("publisher").publisher
        check_event_name(name)
        return await publisher.publish(name, self._checked(name, data), origin=self.name)

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


def _check_subscription(index: int, subscription: Any) -> str | None:
    where = f"get_subscriptions()[{index}]"
    if not isinstance(subscription, dict):
        return f"{where} must be a dict, got {type(subscription).__name__}"
    keys = set(subscription)
    if keys != {"type", "version", "condition"}:
        return f"{where} must have exactly the keys type, version, condition (got {sorted(keys)})"
    if not isinstance(subscription["type"], str) or not SUBSCRIPTION_TYPE.match(
        subscription["type"]
    ):
        return f"{where}['type'] must be an EventSub type such as 'channel.follow'"
    if not isinstance(subscription["version"], str) or not subscription["version"]:
        return f"{where}['version'] must be a non-empty string such as '1'"
    condition = subscription["condition"]
    if (
        not isinstance(condition, dict)
        or not condition
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in condition.items())
    ):
        return f"{where}['condition'] must be a non-empty dict of string ids"
    return None


def contract_violations(cls: type[BaseWorker]) -> list[str]:
    """Everything `cls` gets wrong about the contract; empty when it is a valid worker."""
    problems: list[str] = []
    if not isinstance(cls.name, str) or not WORKER_NAME.match(cls.name):
        problems.append(
            f"name {cls.name!r} must be lowercase letters, digits and '_', starting with a "
            "letter (set e.g. name = 'greeter')"
        )
    if not inspect.iscoroutinefunction(cls.handle):
        problems.append("handle must be `async def handle(self, event_type, payload)`")
    scopes = cls.required_scopes
    if not isinstance(scopes, list | tuple) or not all(isinstance(s, str) for s in scopes):
        problems.append("required_scopes must be a list of scope strings")
    retries = cls.max_retries
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        problems.append("max_retries must be a whole number >= 0")
    for attribute in ("handle_timeout_s", "retry_delay_s"):
        value = getattr(cls, attribute)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            problems.append(f"{attribute} must be a number of seconds > 0")
    if not isinstance(cls.emits, dict):
        problems.append("emits must be a dict of event name -> Pydantic model or None")
    else:
        for event_name, model in cls.emits.items():
            if not isinstance(event_name, str) or not EVENT_NAME.match(event_name):
                problems.append(f"emits: {event_name!r} is not a valid event name")
            elif model is not None and not (
                isinstance(model, type) and issubclass(model, BaseModel)
            ):
                problems.append(f"emits[{event_name!r}] must be a Pydantic model class or None")
    try:
        subscriptions = cls().get_subscriptions(
            PLACEHOLDER_BROADCASTER_ID, PLACEHOLDER_MODERATOR_ID
        )
    except Exception as error:
        problems.append(f"get_subscriptions raised {type(error).__name__}: {error}")
        return problems
    if not isinstance(subscriptions, list) or not subscriptions:
        problems.append("get_subscriptions must return a non-empty list of subscription dicts")
        return problems
    problems.extend(
        problem
        for index, subscription in enumerate(subscriptions)
        if (problem := _check_subscription(index, subscription)) is not None
    )
    return problems


def subscription_types(worker: BaseWorker) -> list[str]:
    """The EventSub types a (valid) worker reads, in its declared order, without repeats."""
    subscriptions = worker.get_subscriptions(PLACEHOLDER_BROADCASTER_ID, PLACEHOLDER_MODERATOR_ID)
    return list(dict.fromkeys(subscription["type"] for subscription in subscriptions))
