"""What `POST /control/trigger` refuses before anything is sent.

Kept apart from `state` so the checks read in one place: types the simulator sends on its own,
unknown types and versions, a bad count or rate, and `set` paths the event does not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.catalogue import SHARD_DISABLED, USER_AUTHORIZATION_REVOKE
from simulator.errors import ControlError, SimulatorError
from simulator.event_context import PeopleLookup
from simulator.events import (
    SUPPORTED_TYPES,
    apply_field_strings,
    generate_event,
    unknown_type_message,
)

#: Types Twitch sends on its own, with the control call that makes the simulator send one.
_SENT_ON_THEIR_OWN = {
    SHARD_DISABLED: (
        "is sent when a conduit shard's socket closes; close one with "
        "POST /control/sessions/{session_id}/close"
    ),
    USER_AUTHORIZATION_REVOKE: (
        "is sent when a user revokes the app; revoke one with "
        "POST /control/users/{user}/revoke-authorization"
    ),
}


def checked_version(
    sub_type: str,
    version: str | None,
    count: int,
    rate: float | None,
    condition: Mapping[str, str] | None,
    event: Mapping[str, Any] | None,
    assignments: Mapping[str, str] | None,
    people: PeopleLookup,
) -> str:
    """The version to fire, once the request is known to be sendable (ControlError 400 if not)."""
    if sub_type in _SENT_ON_THEIR_OWN:
        raise ControlError(400, f"{sub_type} {_SENT_ON_THEIR_OWN[sub_type]}")
    if sub_type not in SUPPORTED_TYPES:
        raise ControlError(400, unknown_type_message(sub_type))
    version = version or SUPPORTED_TYPES[sub_type]
    if version != SUPPORTED_TYPES[sub_type]:
        raise ControlError(
            400, f"{sub_type} is simulated in version {SUPPORTED_TYPES[sub_type]} only"
        )
    if count < 1 or (rate is not None and rate <= 0):
        raise ControlError(400, "count must be at least 1 and rate above 0")
    if assignments:
        # Refuse a field the event does not have, or a value of the wrong kind, before
        # anything is sent (and even when no subscription would receive the event).
        try:
            generated = generate_event(sub_type, version, condition, event, people)
            apply_field_strings(generated, assignments, sub_type)
        except SimulatorError as error:
            raise ControlError(400, str(error)) from None
    return version
