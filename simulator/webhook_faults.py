"""Webhook faults on demand (the control API) and the delivery record of each webhook target.

A fault applies to one callback URL, or to every callback when set without one (a callback's
own fault, while it still does something, wins over the catch-all):
- `fail_status` + `fail_count`: the next `fail_count` notification POSTs (all of them while
  `fail_count` is None) are not sent and count as answered with `fail_status`, so the normal
  retries and the failure limit follow;
- `delay_s`: every POST (challenge, notification, revocation) is held this long before it is
  sent; the wait counts against the answer timeout, so a delay at or over it is a timeout;
- `duplicate`: the next notification is POSTed twice, same message id and headers;
- `stale`: the next notification's `Twitch-Eventsub-Message-Timestamp` is `stale_age_s` old
  (past the 10-minute replay window by default).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: A stale message is this old unless the caller says otherwise: past the 10-minute window.
STALE_AGE_S = 11 * 60


@dataclass
class WebhookFault:
    callback: str | None = None
    fail_status: int | None = None
    #: None with a fail_status: every notification fails until the fault is cleared.
    fail_count: int | None = None
    delay_s: float = 0.0
    duplicate: bool = False
    stale: bool = False
    stale_age_s: float = STALE_AGE_S

    @property
    def active(self) -> bool:
        """Still does something (a used-up fault leaves the catch-all in charge)."""
        return self.fail_status is not None or bool(self.delay_s or self.duplicate or self.stale)

    def describe(self) -> dict[str, Any]:
        return asdict(self)


class WebhookFaults:
    """The faults in force, by callback URL (None: every callback)."""

    def __init__(self) -> None:
        self.by_callback: dict[str | None, WebhookFault] = {}

    def set(self, fault: WebhookFault) -> None:
        """Replace the fault for `fault.callback`."""
        self.by_callback[fault.callback] = fault

    def clear(self, callback: str | None = None) -> int:
        """Remove the fault for `callback`, or (None) every fault; how many went."""
        if callback is not None:
            return 1 if self.by_callback.pop(callback, None) is not None else 0
        count = len(self.by_callback)
        self.by_callback.clear()
        return count

    def get(self, callback: str) -> WebhookFault | None:
        own = self.by_callback.get(callback)
        return own if own is not None and own.active else self.by_callback.get(None)

    def take_failure(self, callback: str) -> int | None:
        """The status to fail this notification POST with, counting it down; None: send it."""
        fault = self.get(callback)
        if fault is None or fault.fail_status is None:
            return None
        status = fault.fail_status
        if fault.fail_count is not None:
            fault.fail_count -= 1
            if fault.fail_count <= 0:
                fault.fail_status = fault.fail_count = None
        return status

    def take_one_shots(self, callback: str) -> tuple[float | None, bool]:
        """(stale age or None, duplicate?) for the next notification; both are used up."""
        fault = self.get(callback)
        if fault is None:
            return None, False
        stale_age = fault.stale_age_s if fault.stale else None
        duplicate = fault.duplicate
        fault.stale = fault.duplicate = False
        return stale_age, duplicate

    def describe(self) -> list[dict[str, Any]]:
        return [fault.describe() for fault in self.by_callback.values()]


@dataclass
class DeliveryStats:
    """What happened to the POSTs for one webhook subscription or shard."""

    callback: str
    subscription_id: str | None = None
    conduit_id: str | None = None
    shard_id: str | None = None
    #: pending | passed | failed
    challenge: str = "pending"
    #: Notification and revocation POSTs (faulted ones included), not the challenge.
    attempts: int = 0
    delivered: int = 0
    failed: int = 0
    retries_pending: int = 0
    #: Notifications given up on (failure limit, subscription gone, no shard took it).
    dropped: int = 0
    consecutive_failures: int = 0
    last_status: int | None = None
    last_error: str | None = None

    def record(self, status: int | None, error: str | None) -> None:
        """One POST's outcome: `error` None means a 2XX."""
        self.last_status, self.last_error = status, error
        if error is None:
            self.delivered += 1
            self.consecutive_failures = 0
        else:
            self.failed += 1
            self.consecutive_failures += 1

    def describe(self) -> dict[str, Any]:
        entry = asdict(self)
        if self.subscription_id is None:
            del entry["subscription_id"]
        else:
            del entry["conduit_id"], entry["shard_id"]
        return entry
