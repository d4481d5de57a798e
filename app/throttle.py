"""A throttle on failed dashboard logins, per client address.

In memory, so per process: a deployment running several StreamCore processes behind one
address allows the limit in each of them. That is enough to turn guessing the admin token (16+
characters) from online brute force into hopelessness; it is not an account lockout. Behind a
reverse proxy every client shares the proxy's address, so a guesser also delays the real admin
by at most a window; that is the safe way to fail (forwarding headers can be forged).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["LOGIN_ATTEMPTS", "LOGIN_WINDOW_S", "LoginThrottle"]

#: Failed logins one address may make per window; the next attempt waits (429, Retry-After).
LOGIN_ATTEMPTS = 5
LOGIN_WINDOW_S = 60.0
#: Addresses remembered at most; the longest quiet one is forgotten first, so a flood of
#: addresses costs bounded memory.
MAX_CLIENTS = 10_000


class LoginThrottle:
    """A sliding window of failure times per client address."""

    def __init__(
        self,
        attempts: int = LOGIN_ATTEMPTS,
        window_s: float = LOGIN_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self.clock = clock
        self.max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, client: str) -> int | None:
        """Whole seconds this client must wait before trying again, or None if it may try."""
        failures = self._recent(client)
        if failures is None or len(failures) < self.attempts:
            return None
        return max(1, math.ceil(failures[0] + self.window_s - self.clock()))

    def failed(self, client: str) -> None:
        failures = self._recent(client)
        if failures is None:
            failures = self._failures[client] = deque(maxlen=self.attempts)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
        failures.append(self.clock())
        self._failures.move_to_end(client)

    def succeeded(self, client: str) -> None:
        """A successful login starts the count again."""
        self._failures.pop(client, None)

    def _recent(self, client: str) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        horizon = self.clock() - self.window_s
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures
