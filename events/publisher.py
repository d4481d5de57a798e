"""Publishing events: the one way anything in StreamCore emits to overlays and devices.

`EventPublisher.publish(name, data)` appends the event to the durable event log
(EVENTS_LOG_STREAM, whose entry id becomes the envelope's `id`, ordered across processes),
which every broadcaster tails, and then PUBLISHes the envelope `{"event", "data", "id", "ts"}`
(plus `"channel": {"id", "login"}` for a channel's event, core.channels) to `events:{name}`
for other programs that listen there. The data is serialised once here.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from bus import Bus, BusUnavailable
from core.channels import ChannelTag
from core.constants import EMIT_ONCE_TTL_S, EVENTS_CHANNEL, EVENTS_LOG_STREAM
from events.errors import EventDataError, InvalidEventName

logger = logging.getLogger("streamcore.events")

EVENT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
#: Default number of envelopes kept for replay when nothing else is configured.
DEFAULT_RETENTION = 10_000


def check_event_name(name: str) -> str:
    if not isinstance(name, str) or not EVENT_NAME.match(name):
        raise InvalidEventName(
            f"Invalid event name {name!r}: use 1-100 letters, digits, '.', '_' or '-'"
        )
    return name


def _find_unserialisable(value: Any, path: str) -> str | None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path}[{key!r}] (keys must be strings)"
            found = _find_unserialisable(item, f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _find_unserialisable(item, f"{path}[{index}]")
            if found:
                return found
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return None
    return f"{path} ({type(value).__name__})"


def encode_data(data: Any, origin: str = "event") -> str:
    """JSON text of `data`; EventDataError names the first field that is not JSON."""
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        field = _find_unserialisable(data, "data") or "data (NaN or infinity)"
        raise EventDataError(f"{origin}: {field} is not JSON-serialisable") from None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope_text(
    name: str, data_json: str, event_id: str, ts: str, channel_json: str | None = None
) -> str:
    """The envelope as JSON text, built around already-encoded data (no second encode);
    `channel_json` is ChannelTag.as_json() for a channel's event."""
    channel = f',"channel":{channel_json}' if channel_json else ""
    return (
        f'{{"event":{_json_string(name)},"data":{data_json},"id":{_json_string(event_id)},'
        f'"ts":{_json_string(ts)}{channel}}}'
    )


def notice_text(name: str, data: dict[str, Any]) -> str:
    """An envelope with `"id": null`: a notice for this process's clients, never in the log
    (so never replayed)."""
    return envelope_text(name, json.dumps(data), "", now_iso()).replace('"id":""', '"id":null')


_PLAIN = re.compile(r"[A-Za-z0-9._:+\-]*")


def _json_string(text: str) -> str:
    """`json.dumps(text)`, without the encoder for the names, ids and timestamps that need no
    escaping (every one StreamCore writes): the fan-out builds three per event."""
    return f'"{text}"' if _PLAIN.fullmatch(text) else json.dumps(text)


class EventPublisher:
    """Emits events: retention stream first (for replay), then pub/sub (for live delivery)."""

    def __init__(self, bus: Bus, retention: int = DEFAULT_RETENTION) -> None:
        self._bus = bus
        self._retention = retention

    async def publish(
        self,
        name: str,
        data: Any,
        origin: str = "event",
        once_key: str | None = None,
        channel: ChannelTag | None = None,
    ) -> str:
        """Emit `data` as event `name` (of `channel`, if any); returns the envelope id.

        With `once_key`, a repeat of the same key (a retried worker `handle`) appends nothing
        and returns the id the first emit got (see core.constants.EMIT_ONCE_KEY).
        """
        check_event_name(name)
        data_json = encode_data(data, origin)
        ts = now_iso()
        fields = {"event": name, "data": data_json, "ts": ts}
        channel_json = None
        if channel is not None:
            channel_json = fields["channel"] = channel.as_json()
        if once_key is None:
            event_id = await self._bus.append(EVENTS_LOG_STREAM, fields, self._retention)
        else:
            event_id, first = await self._bus.append_once(
                EVENTS_LOG_STREAM, fields, self._retention, once_key, EMIT_ONCE_TTL_S
            )
            if not first:
                return event_id
        await self._bus.publish(
            EVENTS_CHANNEL.format(name=name),
            envelope_text(name, data_json, event_id, ts, channel_json),
        )
        return event_id

    def emitter(self, origin: str) -> Callable[[str, Any], Awaitable[None]]:
        """`emit(name, data)` for a part of StreamCore (`origin`): a bus outage is logged,
        never raised, since a status event must not take its emitter down."""

        async def emit(name: str, data: Any) -> None:
            try:
                await self.publish(name, data, origin=origin)
            except BusUnavailable as error:
                logger.warning("Could not emit %s (%s)", name, error)

        return emit
