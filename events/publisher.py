"""Publishing events: the one way anything in StreamCore emits to overlays and devices.

`EventPublisher.publish(name, data)` appends the event to the retention stream (EVENTS_LOG_STREAM,
whose entry id becomes the envelope's `id`, ordered across processes) and then PUBLISHes the
envelope `{"event", "data", "id", "ts"}` to `events:{name}`, where every broadcaster picks it up.
The envelope is serialised once here; nothing downstream serialises it again.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from bus import Bus
from core.constants import EVENTS_CHANNEL, EVENTS_LOG_STREAM
from events.errors import EventDataError, InvalidEventName

EVENT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
#: Default number of envelopes kept for replay when nothing else is configured.
DEFAULT_RETENTION = 1_000


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


def envelope_text(name: str, data_json: str, event_id: str, ts: str) -> str:
    """The envelope as JSON text, built around already-encoded data (no second encode)."""
    return (
        f'{{"event":{json.dumps(name)},"data":{data_json},"id":{json.dumps(event_id)},'
        f'"ts":{json.dumps(ts)}}}'
    )


class EventPublisher:
    """Emits events: retention stream first (for replay), then pub/sub (for live delivery)."""

    def __init__(self, bus: Bus, retention: int = DEFAULT_RETENTION) -> None:
        self._bus = bus
        self._retention = retention

    async def publish(self, name: str, data: Any, origin: str = "event") -> str:
        """Emit `data` as event `name`; returns the envelope id."""
        check_event_name(name)
        data_json = encode_data(data, origin)
        ts = now_iso()
        event_id = await self._bus.append(
            EVENTS_LOG_STREAM, {"event": name, "data": data_json, "ts": ts}, self._retention
        )
        await self._bus.publish(
            EVENTS_CHANNEL.format(name=name), envelope_text(name, data_json, event_id, ts)
        )
        return event_id
