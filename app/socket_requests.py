"""Requests on `/ws/events`: change the subscription, call an action (events.session hands
each request here; this module knows the actions and who may call them).

- `{"op": "subscribe", "id"?, "events": ["follow", "alert.*"]}` adds to what the client gets
  (from "everything", it becomes just these); `{"op": "unsubscribe", "id"?, "events": [...]}`
  removes (down to nothing). The key's scope still applies. Answer: `system.result` with the
  patterns now subscribed (`null`: everything).
- `{"op": "call", "id": "<client id>", "action": "chat.send", "args": {...}, "channel"?}`
  runs the action like `POST /actions/{name}` (same permissions, rate limit, logging) and
  answers one `system.result` frame with the same `id`. At most MAX_CALLS_IN_FLIGHT run at once
  per connection; more are answered `rate_limited`. Calls still running when the client goes
  are cancelled.
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.callers import Caller, CallLimits
from bus import Bus
from events.clients import Client
from events.errors import EventsError
from events.filters import EventFilter, combine
from events.session import result_frame
from tokens.channels import ChannelRegistry
from worker_runtime.actions import ActionFailed, ActionRunner

MAX_CALLS_IN_FLIGHT = 8


class NoEvents:
    """The filter of a client that unsubscribed from everything it had."""

    def matches(self, name: str) -> bool:
        return False


class SocketRequests:
    def __init__(
        self,
        runner: ActionRunner | None,
        caller: Caller,
        registry: ChannelRegistry,
        limits: CallLimits,
        bus: Bus,
    ) -> None:
        self._runner = runner
        self._caller = caller
        self._registry = registry
        self._limits = limits
        self._bus = bus
        self._client: Client | None = None
        self._scope = EventFilter(())
        #: The patterns subscribed; None: every event.
        self._patterns: list[str] | None = None
        self._calls: set[asyncio.Task[None]] = set()

    def attach(self, client: Client, scope: EventFilter, requested: EventFilter) -> None:
        self._client, self._scope = client, scope
        self._patterns = None if requested.is_everything else str(requested).split(",")

    async def handle(self, message: dict[str, Any]) -> None:
        if message.get("op") == "call":
            if len(self._calls) >= MAX_CALLS_IN_FLIGHT:
                error = ActionFailed(
                    "rate_limited", f"more than {MAX_CALLS_IN_FLIGHT} calls at once; wait"
                )
                self._answer(message, error=error)
                return
            task = asyncio.create_task(self._call(message))
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
            return
        try:
            self._answer(message, {"events": self._resubscribe(message)})
        except ActionFailed as error:
            self._answer(message, error=error)

    async def close(self) -> None:
        for task in list(self._calls):
            task.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)

    def _answer(self, message: dict[str, Any], result: Any = None, error: Any = None) -> None:
        if self._client is not None:
            public = error.public() if isinstance(error, ActionFailed) else None
            self._client.offer(result_frame(message, result, public))

    def _resubscribe(self, message: dict[str, Any]) -> list[str] | None:
        events = message.get("events")
        if isinstance(events, str):
            events = events.split(",")
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise ActionFailed("invalid_args", 'events must be a list such as ["follow"]')
        try:
            wanted = [t for t in str(EventFilter.parse(",".join(events))).split(",") if t]
        except EventsError as error:
            raise ActionFailed("invalid_args", str(error)[:200]) from None
        current = self._patterns
        if message["op"] == "subscribe":
            patterns = (
                wanted if current is None else [*current, *(w for w in wanted if w not in current)]
            )
        elif current is None:
            raise ActionFailed(
                "invalid_args", "this client gets every event: subscribe to a list first"
            )
        else:
            patterns = [p for p in current if p not in wanted]
        self._patterns = patterns
        assert self._client is not None
        if patterns:
            self._client.filter = combine(self._scope, EventFilter.parse(",".join(patterns)))
        else:
            self._client.filter = NoEvents()
        return patterns

    async def _call(self, message: dict[str, Any]) -> None:
        name = message.get("action")
        label = str(name)[:64] if name is not None else "(none)"
        ran = False
        try:
            if self._runner is None:
                raise ActionFailed("unknown_action", "no actions in this process")
            if not isinstance(name, str):
                raise ActionFailed("invalid_args", 'a call needs "action": "<name>"')
            if not self._caller.may_call(name):
                raise ActionFailed("forbidden", f"this key may not call {label}")
            await self._limits.take(self._caller, self._bus)
            named = message.get("channel")
            channel = await self._caller.channel_for(
                self._registry, named if isinstance(named, str) else None
            )
            ran = True
            result = await self._runner.call(name, message.get("args"), self._caller.label, channel)
        except ActionFailed as error:
            if self._runner is not None and not ran:
                self._runner.record(label, self._caller.label, error.code)
            self._answer(message, error=error)
            return
        self._answer(message, result)
