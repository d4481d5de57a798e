"""Checking a worker class against the contract of `workers.base.BaseWorker`.

Discovery runs `contract_violations` on every class it finds and reports each problem by the
class's name, so a broken plugin is skipped with a reason instead of failing at its first event.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from pydantic import BaseModel

from events.publisher import EVENT_NAME
from workers.actions import actions_of
from workers.base import RESERVED_NAMES, BaseWorker

#: Names become consumer groups, stream keys and WORKER_<NAME>_* variables: keep them plain.
WORKER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SUBSCRIPTION_TYPE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
#: Ids used to ask a class which types it reads before any real id is known.
PLACEHOLDER_BROADCASTER_ID = "0000000001"
PLACEHOLDER_MODERATOR_ID = "0000000002"


def _redefined_reserved(cls: type[BaseWorker]) -> list[str]:
    """Reserved BaseWorker members that `cls` or one of its own bases redefines."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is BaseWorker:
            break
        names |= RESERVED_NAMES & set(vars(klass))
    return sorted(names)


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
    problems: list[str] = [
        f"it defines {name!r}, which BaseWorker reserves for the runtime; rename yours"
        for name in _redefined_reserved(cls)
    ]
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
    # A worker that only offers actions (workers.actions) may want no events.
    if not isinstance(subscriptions, list) or (not subscriptions and not actions_of(cls)):
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
