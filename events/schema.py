"""`GET /events/schema`: every event name clients can receive, with its data schema if known."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from events.replay import REPLAY_TRUNCATED

__all__ = ["SYSTEM_EVENTS", "event_schema"]

logger = logging.getLogger("streamcore.events")

#: Events StreamCore itself emits, whatever workers are installed.
SYSTEM_EVENTS: dict[str, dict[str, Any]] = {
    "system.gateway": {
        "description": "The EventSub gateway connected, reconnected or lost Twitch.",
        "schema": {"type": "object", "properties": {"state": {"type": "string"}}},
    },
    "system.subscription.revoked": {
        "description": "Twitch revoked an EventSub subscription (e.g. authorization revoked).",
        "schema": {
            "type": "object",
            "properties": {"type": {"type": "string"}, "status": {"type": "string"}},
        },
    },
    REPLAY_TRUNCATED: {
        "description": "First frame of a replay whose `since` is older than retention: "
        "events between `since` and `oldest` may be lost.",
        "schema": {
            "type": "object",
            "properties": {
                "since": {"type": "string"},
                "oldest": {"type": ["string", "null"]},
                "reason": {"type": "string"},
            },
        },
    },
    "system.pong": {
        "description": 'Answer to a client\'s {"op": "ping"} (sent to that client only).',
        "schema": {"type": "object"},
    },
}


def _worker_schemas() -> dict[str, Any]:
    try:
        registry = importlib.import_module("workers.registry")
    except ImportError:
        return {}
    event_schemas = getattr(registry, "event_schemas", None)
    if event_schemas is None:
        return {}
    try:
        return dict(event_schemas())
    except Exception:
        logger.exception("workers.registry.event_schemas() failed; listing system events only")
        return {}


def event_schema() -> dict[str, Any]:
    """`{"events": [{"name", "source", "schema"}...]}`, worker events first, sorted by name."""
    events = [
        {"name": name, "source": "worker", "schema": schema}
        for name, schema in sorted(_worker_schemas().items())
    ]
    events += [
        {"name": name, "source": "system", **details}
        for name, details in sorted(SYSTEM_EVENTS.items())
    ]
    return {"envelope": ["event", "data", "id", "ts"], "events": events}
