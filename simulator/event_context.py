"""What every event generator shares: the random source, known people, and the context.

A generator receives an EventContext: the users the subscription's condition names, a random
viewer, and the caller's overrides (some change the event's shape, e.g. `is_anonymous`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from simulator import events_data as data
from simulator.users import OTHER_CHANNELS, default_role_users
from simulator.wire import rfc3339_nano

rng = random.Random()
Person = tuple[str, str, str]  # (id, login, display name)
#: The running simulator's own users (synthetic channels included), by id; None if unknown.
PeopleLookup = Callable[[str], Person | None]

ROLE_USERS = default_role_users()
KNOWN_PEOPLE: dict[str, Person] = {
    u.id: (u.id, u.login, u.display_name) for u in [*ROLE_USERS.values(), *OTHER_CHANNELS]
}
KNOWN_PEOPLE.update({v[0]: v for v in data.VIEWERS})


def person(user_id: str | None) -> Person:
    if user_id is None:
        return rng.choice(data.VIEWERS)
    return KNOWN_PEOPLE.get(user_id, (user_id, f"user{user_id}", f"User{user_id}"))


def user_fields(prefix: str, person: Person | None) -> dict[str, Any]:
    """`{prefix}user_id/_login/_name`, all null for an anonymous person."""
    user_id, login, name = person if person is not None else (None, None, None)
    return {f"{prefix}user_id": user_id, f"{prefix}user_login": login, f"{prefix}user_name": name}


def timestamp_in(offset_s: float = 0.0) -> str:
    return rfc3339_nano(time.time_ns() + int(offset_s * 1_000_000_000))


def other_channel(exclude: str | None = None) -> Person:
    choices = [c for c in OTHER_CHANNELS if c.id != exclude]
    channel = rng.choice(choices)
    return (channel.id, channel.login, channel.display_name)


class EventContext:
    """What a generator needs: the users the condition names and the caller's overrides.

    `people` is the simulator's user directory, so an event about a synthetic channel carries
    that channel's real login and display name."""

    def __init__(
        self,
        condition: Mapping[str, str],
        overrides: Mapping[str, Any],
        people: PeopleLookup | None = None,
    ) -> None:
        self.condition = condition
        self.overrides = overrides
        self.people = people
        self.broadcaster = self.person(
            condition.get("broadcaster_user_id") or ROLE_USERS["broadcaster"].id
        )
        self.viewer = rng.choice(data.VIEWERS)
        self.moderator = self.person(
            condition.get("moderator_user_id") or ROLE_USERS["moderator"].id
        )

    def person(self, user_id: str) -> Person:
        known = self.people(user_id) if self.people is not None else None
        return known if known is not None else person(user_id)

    def chose(self, key: str, default: Any) -> Any:
        """An override that changes the event's shape (anonymity, notice type) if given."""
        return self.overrides.get(key, default)

    @property
    def base(self) -> dict[str, Any]:
        return user_fields("broadcaster_", self.broadcaster)
