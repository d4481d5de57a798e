"""Raw messages: what other programs PUBLISH to `events:<name>` becomes a logged event.

Anything PUBLISHed to `events:<name>` that is not a StreamCore envelope (for example
`redis-cli PUBLISH events:foo '{"x":1}'` or plain text) is wrapped: event = the channel minus
`events:`, data = the parsed JSON or the text, appended to the event log, so every broadcaster
delivers it with an id that `?since=` understands.

Only the coordinator wraps (`may_wrap`), so with several replicas a raw message is logged once,
not once per replica; the other replicas do not even subscribe, and so do not receive a copy of
every envelope EventPublisher PUBLISHes. While the coordinator changes hands (a few seconds
after a replica dies) raw messages are not wrapped: pub/sub is fire-and-forget. Programs that
need every message kept should XADD to the log themselves, or go through EventPublisher.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable

from bus import Bus, BusError
from core.constants import EVENTS_LOG_STREAM, EVENTS_PATTERN
from events.constants import BROADCAST_ERROR_PAUSE_S, SUBSCRIPTION_QUEUE
from events.errors import EventDataError
from events.publisher import encode_data, now_iso

__all__ = ["RawEventWrapper", "is_envelope"]

logger = logging.getLogger("streamcore.events")

_CHANNEL_PREFIX = EVENTS_PATTERN.removesuffix("*")
#: How often a replica checks whether it became (or stopped being) the coordinator.
ROLE_CHECK_S = 0.5
#: The head and the end of every envelope EventPublisher builds (events.publisher
#: envelope_text): the event name, then the log id, the timestamp and, for a channel's event,
#: the channel. Checked on the text's ends, so an envelope is recognised without parsing its
#: data.
_ENVELOPE_HEAD = re.compile(r'\{"event":"[A-Za-z0-9._-]{1,100}","data":')
_ENVELOPE_TAIL = re.compile(
    r',"id":"\d+-\d+","ts":"[0-9T:.+\-Z]*"(?:,"channel":\{"id":"[^"\\]*","login":"[^"\\]*"\})?\}'
)
_ENVELOPE_KEYS = frozenset(("event", "data", "id", "ts"))


def is_envelope(text: str) -> bool:
    """True for a StreamCore envelope (EventPublisher PUBLISHes every event it logs): the
    shape EventPublisher writes is recognised from the head and the tail; anything else that
    starts like an envelope is parsed to be sure."""
    if not text.startswith('{"event":'):
        return False
    start = text.rfind(',"id":"')
    if (
        start > 0
        and _ENVELOPE_HEAD.match(text) is not None
        and _ENVELOPE_TAIL.fullmatch(text, start) is not None
    ):
        return True
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return (
        isinstance(value, dict)
        and value.keys() - {"channel"} == _ENVELOPE_KEYS
        and isinstance(value["id"], str)
        and isinstance(value["event"], str)
    )


class RawEventWrapper:
    """Wraps raw messages into the log while `may_wrap()` (see the module docstring)."""

    def __init__(self, bus: Bus, retention_count: int, may_wrap: Callable[[], bool]) -> None:
        self._bus = bus
        self._retention = retention_count
        self._may_wrap = may_wrap
        self.wrapped = 0
        #: Raw messages dropped because the listener fell behind.
        self.dropped = 0
        #: True while subscribed (tests and status wait on it).
        self.listening = False

    async def run(self) -> None:
        """Listen while this process coordinates; stop listening when it no longer does."""
        while True:
            await self._until(True)
            listener = asyncio.create_task(self._listen(), name="events.raw.listen")
            try:
                await self._until(False)
            finally:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
                self.listening = False

    async def _until(self, coordinating: bool) -> None:
        # The coordinator lease has no change notification; asking it is a local check.
        while True:
            if self._may_wrap() is coordinating:
                return
            await asyncio.sleep(ROLE_CHECK_S)

    async def _listen(self) -> None:
        while True:
            try:
                async with self._bus.psubscribe(
                    EVENTS_PATTERN, maxsize=SUBSCRIPTION_QUEUE
                ) as subscription:
                    self.listening = True
                    while True:
                        message = await subscription.get()
                        self.dropped = subscription.dropped
                        if not is_envelope(message.data):
                            name = message.channel.removeprefix(_CHANNEL_PREFIX)
                            await self._wrap(name, message.data)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.listening = False
                logger.exception("Raw event listener failed; resubscribing")
                await asyncio.sleep(BROADCAST_ERROR_PAUSE_S)

    async def _wrap(self, name: str, text: str) -> None:
        try:
            data_json = encode_data(json.loads(text))
        except (ValueError, EventDataError):
            data_json = json.dumps(text, ensure_ascii=False)
        try:
            await self._bus.append(
                EVENTS_LOG_STREAM,
                {"event": name, "data": data_json, "ts": now_iso()},
                self._retention,
            )
        except BusError as error:
            logger.warning("Dropped raw event %s: cannot give it an id (%s)", name, error)
            return
        self.wrapped += 1
