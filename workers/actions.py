"""Actions: what clients may ask StreamCore to do, declared on worker methods.

    class Greeter(BaseWorker):
        @action("greeter.hello", scopes=["user:write:chat"], description="Say hello in chat")
        async def hello(self, name: str, times: int = 1) -> dict[str, Any]:
            ...
            return {"sent": times}

The method's parameters (after `self`) are the action's arguments: their annotations and
defaults become a pydantic model (unknown fields refused), so bad arguments are answered
`invalid_args` with the field errors before the method runs, and the model's JSON schema is
what `GET /actions` lists. The method runs with the worker's toolkit (`self.twitch`,
`self.state`, `self.emit`, and `self.channel` when the call names a channel) under
`timeout_s` (the worker's `handle_timeout_s` by default); what it returns (JSON) is the
result. `scopes` are the OAuth scopes the token needs; a call without them is answered
`auth_required` with an authorization link that asks for them. `account` ("bot" or
"moderator") says the action acts as that account when one is authorized (see
`BaseWorker.twitch_as`): its scopes are then checked instead of the broadcaster's.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, create_model

__all__ = ["ACTION_NAME", "ActionSpec", "action", "actions_of"]

ACTION_NAME = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$")
_MARK = "__streamcore_action__"
F = TypeVar("F", bound=Callable[..., Any])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ActionSpec:
    """One declared action (the worker class is filled in by `actions_of`)."""

    name: str
    method: str
    arguments: type[BaseModel]
    scopes: tuple[str, ...]
    description: str
    timeout_s: float | None
    worker: str = ""
    account: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "worker": self.worker,
            "description": self.description,
            "scopes": list(self.scopes),
            "account": self.account,
            "schema": self.arguments.model_json_schema(),
        }


def action(
    name: str,
    *,
    scopes: list[str] | tuple[str, ...] = (),
    description: str | None = None,
    timeout_s: float | None = None,
    account: typing.Literal["bot", "moderator"] | None = None,
) -> Callable[[F], F]:
    """Declare an `async def` worker method as the action `name` (see the module docstring)."""
    if not ACTION_NAME.match(name) or len(name) > 64:
        raise ValueError(
            f"action name {name!r}: use lower-case words separated by dots, e.g. chat.send"
        )

    def mark(method: F) -> F:
        if not inspect.iscoroutinefunction(method):
            raise TypeError(f"@action({name!r}) needs an `async def` method")
        hints = typing.get_type_hints(method, include_extras=True)
        fields: dict[str, Any] = {}
        for parameter in list(inspect.signature(method).parameters.values())[1:]:
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise TypeError(f"@action({name!r}): *args and **kwargs cannot be validated")
            annotation = hints.get(parameter.name, Any)
            default = ... if parameter.default is parameter.empty else parameter.default
            fields[parameter.name] = (annotation, default)
        model_name = "".join(part.title() for part in re.split(r"[._-]", name)) + "Args"
        arguments = create_model(model_name, __base__=_Strict, **fields)
        doc = description or (inspect.getdoc(method) or "").split("\n\n")[0].strip()
        spec = ActionSpec(
            name, method.__name__, arguments, tuple(scopes), doc, timeout_s, account=account
        )
        setattr(method, _MARK, spec)
        return method

    return mark


def actions_of(worker_class: type) -> list[ActionSpec]:
    """The actions a worker class declares, with its name filled in."""
    found = []
    for _, member in inspect.getmembers(worker_class, inspect.iscoroutinefunction):
        spec = getattr(member, _MARK, None)
        if isinstance(spec, ActionSpec):
            worker = str(getattr(worker_class, "name", worker_class.__name__))
            found.append(
                ActionSpec(
                    spec.name,
                    spec.method,
                    spec.arguments,
                    spec.scopes,
                    spec.description,
                    spec.timeout_s,
                    worker,
                    spec.account,
                )
            )
    return sorted(found, key=lambda s: s.name)
