"""Every simulated Twitch user, found by role, id or login, and synthetic channels made on demand.

The three role users and the other channels exist from the start. `create` adds synthetic
broadcasters (`POST /control/users`), so a multi-channel test can have thousands of channels that
Helix (Get Users), OAuth (authorize as them) and EventSub (conditions naming them) all know.
Every lookup is a dict hit, so 100,000 users cost nothing per request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from simulator.errors import ControlError
from simulator.users import (
    BROADCASTER_SCOPES,
    OTHER_CHANNELS,
    SimUser,
    default_role_users,
)

#: Synthetic ids count up from here: ten digits, above every built-in user and viewer id, and
#: still the opaque numeric strings Twitch uses.
SYNTHETIC_ID_BASE = 1_000_000_000
#: One `POST /control/users` makes at most this many users (a guard against typos, not a cost).
MAX_CREATED_PER_CALL = 50_000
#: Twitch logins are 4 to 25 characters of lowercase letters, digits and underscores.
LOGIN_PATTERN = re.compile(r"^[a-z0-9_]{4,25}$")
#: A prefix leaves room for at least four digits of numbering within the 25 characters.
PREFIX_PATTERN = re.compile(r"^[a-z0-9_]{1,16}$")
BROADCASTER_TYPES = ("", "affiliate", "partner")


class UserDirectory:
    """The users Helix, OAuth and EventSub agree on; `roles` maps role name -> user."""

    def __init__(self) -> None:
        self.roles: dict[str, SimUser] = default_role_users()
        self.by_id: dict[str, SimUser] = {u.id: u for u in [*self.roles.values(), *OTHER_CHANNELS]}
        self.by_login: dict[str, SimUser] = {u.login: u for u in self.by_id.values()}
        #: Synthetic users by id, in creation order.
        self.synthetic: dict[str, SimUser] = {}
        self._next_id = SYNTHETIC_ID_BASE
        #: prefix -> the last number used, so a second call with the same prefix continues.
        self._numbering: dict[str, int] = {}

    # -- lookups ---------------------------------------------------------------------------

    def find(self, ref: str) -> SimUser | None:
        """The user a role name, a user id or a login names, or None."""
        return self.roles.get(ref) or self.by_id.get(ref) or self.by_login.get(ref.lower())

    def resolve(self, ref: str) -> SimUser:
        """As `find`, but an unknown reference is the control API's 404."""
        user = self.find(ref)
        if user is None:
            raise ControlError(
                404,
                f"no user {ref!r}: give a role (broadcaster, moderator, bot), a user id or a "
                "login; GET /control/users lists them",
            )
        return user

    def login_of(self, user_id: str) -> str:
        user = self.by_id.get(user_id)
        return user.login if user else user_id

    def person(self, user_id: str) -> tuple[str, str, str] | None:
        """(id, login, display name) for the event generator, or None for an unknown id."""
        user = self.by_id.get(user_id)
        return (user.id, user.login, user.display_name) if user else None

    def role_of(self, user_id: str) -> str | None:
        return next((role for role, user in self.roles.items() if user.id == user_id), None)

    # -- synthetic users -------------------------------------------------------------------

    def create(
        self,
        count: int = 0,
        prefix: str = "chan",
        logins: Iterable[str] = (),
        broadcaster_type: str = "",
    ) -> list[SimUser]:
        """Make `count` users named `{prefix}0001`... plus one per explicit login.

        Everything is checked before anything is added, so a refused call changes nothing.
        """
        logins = [login.lower() for login in logins]
        if count < 0 or count + len(logins) > MAX_CREATED_PER_CALL:
            raise ControlError(400, f"count plus logins must be 0 to {MAX_CREATED_PER_CALL}")
        if count + len(logins) == 0:
            raise ControlError(400, "give 'count' (at least 1) or a list of 'logins'")
        if count and not PREFIX_PATTERN.match(prefix):
            raise ControlError(400, "prefix must be 1 to 16 characters of a-z, 0-9 and _")
        if broadcaster_type not in BROADCASTER_TYPES:
            raise ControlError(400, "broadcaster_type must be '', 'affiliate' or 'partner'")
        bad = [login for login in logins if not LOGIN_PATTERN.match(login)]
        if bad:
            raise ControlError(400, f"login {bad[0]!r} is not 4 to 25 characters of a-z, 0-9, _")
        taken = [login for login in logins if login in self.by_login]
        if taken or len(set(logins)) != len(logins):
            raise ControlError(409, f"login {(taken or logins)[0]!r} is already taken")
        return [self._add(login, broadcaster_type) for login in logins] + [
            self._add(self._numbered_login(prefix), broadcaster_type) for _ in range(count)
        ]

    def _numbered_login(self, prefix: str) -> str:
        number = self._numbering.get(prefix, 0)
        while True:
            number += 1
            login = f"{prefix}{number:04d}"
            if login not in self.by_login:
                self._numbering[prefix] = number
                return login

    def _add(self, login: str, broadcaster_type: str) -> SimUser:
        while str(self._next_id) in self.by_id:
            self._next_id += 1
        user = SimUser(
            str(self._next_id),
            login,
            login[:1].upper() + login[1:],
            broadcaster_type,
            description=f"Synthetic channel {login} (simulator).",
            default_scopes=BROADCASTER_SCOPES,
        )
        self._next_id += 1
        self.by_id[user.id] = user
        self.by_login[user.login] = user
        self.synthetic[user.id] = user
        return user

    def describe(self, user: SimUser) -> dict[str, Any]:
        """The control API's entry for a user."""
        return {
            "id": user.id,
            "login": user.login,
            "display_name": user.display_name,
            "broadcaster_type": user.broadcaster_type,
            "role": self.role_of(user.id),
            "synthetic": user.id in self.synthetic,
        }
