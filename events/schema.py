"""`GET /events/schema`: every event name clients can receive, with its data schema if known."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from events.replay import REPLAY_TRUNCATED

__all__ = ["SYSTEM_EVENTS", "event_schema"]

#: Events StreamCore itself emits, whatever workers are installed.
SYSTEM_EVENTS: dict[str, dict[str, Any]] = {
    "system.gateway": {
        "description": "The EventSub gateway connected, reconnected or lost Twitch; "
        '`state: "gap"` names a window (`since`, `until`) in which no session was subscribed.',
        "schema": {
            "type": "object",
            "properties": {
                "state": {"type": "string"},
                "since": {"type": "string"},
                "until": {"type": "string"},
            },
        },
    },
    "system.subscription.repaired": {
        "description": "A subscription Twitch no longer listed (deleted from outside) was "
        "re-created.",
        "schema": {
            "type": "object",
            "properties": {"type": {"type": "string"}, "status": {"type": "string"}},
        },
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


def event_schema(
    worker_schemas: Mapping[str, dict[str, Any] | None], undeclared: Sequence[str] = ()
) -> dict[str, Any]:
    """`{"events": [{"name", "source", "schema"}...]}`, worker events first, sorted by name.

    `worker_schemas` maps each event the installed workers declare to its data's JSON schema
    (None when undeclared); the caller gets it from worker discovery. `undeclared` names the
    workers without an `emits` declaration: what they emit cannot be listed, so they are named
    instead of silently missing.
    """
    events = [
        {"name": name, "source": "worker", "schema": schema}
        for name, schema in sorted(worker_schemas.items())
    ]
    events += [
        {"name": name, "source": "system", **details}
        for name, details in sorted(SYSTEM_EVENTS.items())
    ]
    return {
        "envelope": ["event", "data", "id", "ts"],
        "events": events,
        "workers_without_emits": sorted(undeclared),
    }
