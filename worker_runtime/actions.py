"""Running actions (`workers.actions`): validate, check scopes, run under a timeout, answer.

`ActionRunner.call(name, args, caller, channel)` returns the result or raises `ActionFailed`
with a code a client can act on:
- `unknown_action` (the name is not declared), `invalid_args` (with pydantic's field errors),
- `auth_required` (the token lacks a scope: `auth_url` asks for it), `forbidden` (set by the
  caller's permission check), `rate_limited`,
- `timeout` (longer than the action's `timeout_s`, else the worker's `handle_timeout_s`),
- `twitch_error` (Helix refused: its status and message), `failed` (the action raised).
One action failing never affects another: each call runs on its own, errors become answers.
Every call is logged with the caller (a key's name, never a secret), the action and the
outcome, and counted by action and outcome for /metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pydantic import ValidationError

from core.channels import ChannelTag
from tokens.errors import AuthRequired, HelixError
from workers.actions import ActionSpec, actions_of
from workers.base import EMIT_SOURCE, BaseWorker, EmitSource

__all__ = ["ActionFailed", "ActionRunner"]

logger = logging.getLogger("streamcore.actions")


class ActionFailed(Exception):
    """An answer with `ok: false`: `code`, `message` and what else helps (`details`)."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def public(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class ActionRunner:
    def __init__(
        self,
        workers: Iterable[BaseWorker],
        scopes: Callable[[], list[str] | None],
        auth_link: Callable[[list[str]], Awaitable[str | None]],
        account_scopes: Callable[[str], list[str] | None] = lambda _: None,
    ) -> None:
        """`workers`: bound instances; `scopes`: the token's scopes (None: not authorized);
        `auth_link`: an authorization URL asking for these extra scopes; `account_scopes`:
        the bot's or moderator's scopes (None: that account is not set)."""
        self._scopes = scopes
        self._account_scopes = account_scopes
        self._auth_link = auth_link
        self.specs: dict[str, tuple[ActionSpec, BaseWorker]] = {}
        for worker in workers:
            for spec in actions_of(type(worker)):
                if spec.name in self.specs:
                    other = self.specs[spec.name][0].worker
                    raise ValueError(
                        f"action {spec.name!r} is declared by both {other} and {spec.worker}"
                    )
                self.specs[spec.name] = (spec, worker)
        self.counts: Counter[tuple[str, str]] = Counter()

    def public(self) -> list[dict[str, Any]]:
        return [spec.public() for spec, _ in sorted(self.specs.values(), key=lambda p: p[0].name)]

    def scopes_of(self, name: str) -> tuple[str, ...]:
        found = self.specs.get(name)
        return found[0].scopes if found is not None else ()

    async def call(
        self, name: str, args: Any, caller: str, channel: ChannelTag | None = None
    ) -> Any:
        """Run the action (see the module docstring); logs and counts every outcome."""
        try:
            result = await self._call(name, args, channel)
        except ActionFailed as failure:
            self.record(name, caller, failure.code)
            raise
        self.record(name, caller, "ok")
        return result

    def record(self, name: str, caller: str, outcome: str) -> None:
        """Log and count one call's outcome (callers refused before running count too)."""
        known = name if name in self.specs else "(unknown)"
        self.counts[(known, outcome)] += 1
        logger.info("Action %s by %s: %s", name[:64], caller, outcome)

    async def _call(self, name: str, args: Any, channel: ChannelTag | None) -> Any:
        found = self.specs.get(name)
        if found is None:
            raise ActionFailed("unknown_action", f"no action named {name[:64]!r}; GET /actions")
        spec, worker = found
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ActionFailed("invalid_args", "args must be a JSON object")
        try:
            arguments = spec.arguments.model_validate(args)
        except ValidationError as error:
            fields = [
                {"field": ".".join(map(str, e["loc"])), "message": e["msg"]}
                for e in error.errors(include_url=False)
            ]
            raise ActionFailed("invalid_args", f"bad arguments for {name}", fields=fields) from None
        await self._check_scopes(spec)
        timeout_s = spec.timeout_s or type(worker).handle_timeout_s
        method = getattr(worker, spec.method)
        source = EMIT_SOURCE.set(EmitSource(f"action:{name}", channel=channel)) if channel else None
        try:
            async with asyncio.timeout(timeout_s):
                result = await method(**dict(arguments))
        except TimeoutError:
            raise ActionFailed("timeout", f"{name} took longer than {timeout_s:g} s") from None
        except ActionFailed:
            raise
        except AuthRequired as error:
            raise ActionFailed("auth_required", str(error), auth_url=error.auth_url) from None
        except HelixError as error:
            raise ActionFailed("twitch_error", str(error), status=error.status) from None
        except Exception as error:
            worker.logger.warning("Action %s failed: %s", name, error, exc_info=True)
            raise ActionFailed("failed", f"{type(error).__name__}: {error}"[:300]) from None
        finally:
            if source is not None:
                EMIT_SOURCE.reset(source)
        try:
            json.dumps(result)
        except (TypeError, ValueError):
            raise ActionFailed("failed", f"{name} returned something that is not JSON") from None
        return result

    async def _check_scopes(self, spec: ActionSpec) -> None:
        # An action that acts as the bot or moderator account uses that account's grant
        # when the account is set, else the broadcaster's token (BaseWorker.twitch_as).
        granted = self._account_scopes(spec.account) if spec.account else None
        if granted is None:
            granted = self._scopes()
        missing = [scope for scope in spec.scopes if granted is None or scope not in granted]
        if not missing:
            return
        url = await self._auth_link(missing)
        raise ActionFailed(
            "auth_required",
            f"{spec.name} needs the scopes {', '.join(missing)}: authorize again",
            auth_url=url,
            missing_scopes=missing,
        )
