"""Indexes over the EventSub subscriptions, so thousands of them stay cheap.

Without them every Create walked every subscription for its duplicate, limit and cost checks,
every Get page and every trigger too: 5,000 conduit subscriptions for 1,000 channels were
quadratic. Each index maps a key to its subscriptions in creation order; removing one is O(1)
and a Get page finds its cursor with a binary search.

Statuses are not indexed: they change in many places (sessions closing, webhooks failing,
revocations), so queries filter on them as they read.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.subscriptions import EventSubSubscription

#: Who owns a subscription: (client id, user id), the user None for app-token subscriptions.
Owner = tuple[str, str | None]

#: Removed entries are dropped from the ordered list once they outnumber the live ones by this.
_COMPACT_SLACK = 64


def owner_of(sub: EventSubSubscription) -> Owner:
    return (sub.client_id, sub.user_id)


def condition_key(condition: Mapping[str, str]) -> str:
    """One string per condition, whatever the order of its fields."""
    return json.dumps(condition, sort_keys=True)


def named_users(condition: Mapping[str, str]) -> set[str]:
    """The user ids a condition names (the fields Get's `user_id` filter looks at)."""
    return {value for key, value in condition.items() if key.endswith("user_id") and value}


class CreationOrder:
    """Subscriptions in creation order: O(1) add and remove, O(log n) seek past a cursor."""

    def __init__(self) -> None:
        self.live: dict[str, EventSubSubscription] = {}
        self._order: list[EventSubSubscription] = []
        self._seqs: list[int] = []

    def __len__(self) -> int:
        return len(self.live)

    def __iter__(self) -> Iterator[EventSubSubscription]:
        return iter(self.live.values())

    def add(self, sub: EventSubSubscription) -> None:
        self.live[sub.id] = sub
        self._order.append(sub)
        self._seqs.append(sub.seq)

    def remove(self, sub: EventSubSubscription) -> None:
        self.live.pop(sub.id, None)
        if len(self._order) > 2 * len(self.live) + _COMPACT_SLACK:
            self._order = list(self.live.values())
            self._seqs = [s.seq for s in self._order]

    def after(self, seq: int) -> Iterator[EventSubSubscription]:
        """The live subscriptions created after the one numbered `seq`, oldest first."""
        for index in range(bisect_right(self._seqs, seq), len(self._order)):
            sub = self._order[index]
            if self.live.get(sub.id) is sub:
                yield sub


class SubscriptionIndex:
    """Every secondary index; `add` and `remove` keep them all in step."""

    def __init__(self) -> None:
        self.by_owner: defaultdict[Owner, CreationOrder] = defaultdict(CreationOrder)
        self.by_owner_type: defaultdict[tuple[Owner, str], CreationOrder] = defaultdict(
            CreationOrder
        )
        self.by_owner_user: defaultdict[tuple[Owner, str], CreationOrder] = defaultdict(
            CreationOrder
        )
        #: (owner, type, condition) -> subscriptions: the duplicate and 3-per-condition checks.
        self.by_condition: defaultdict[tuple[Owner, str, str], dict[str, EventSubSubscription]]
        self.by_condition = defaultdict(dict)
        #: (type, version) -> subscriptions: what a trigger walks.
        self.by_type: defaultdict[tuple[str, str], dict[str, EventSubSubscription]]
        self.by_type = defaultdict(dict)
        self.by_conduit: defaultdict[str, dict[str, EventSubSubscription]] = defaultdict(dict)
        #: Only the subscriptions that cost anything, for `total_cost`: most cost 0.
        self.costly: defaultdict[Owner, dict[str, EventSubSubscription]] = defaultdict(dict)

    def add(self, sub: EventSubSubscription) -> None:
        owner = owner_of(sub)
        self.by_owner[owner].add(sub)
        self.by_owner_type[(owner, sub.type)].add(sub)
        for user in named_users(sub.condition):
            self.by_owner_user[(owner, user)].add(sub)
        self.by_condition[(owner, sub.type, condition_key(sub.condition))][sub.id] = sub
        self.by_type[(sub.type, sub.version)][sub.id] = sub
        if sub.conduit_id is not None:
            self.by_conduit[sub.conduit_id][sub.id] = sub
        if sub.cost:
            self.costly[owner][sub.id] = sub

    def remove(self, sub: EventSubSubscription) -> None:
        owner = owner_of(sub)
        self.by_owner[owner].remove(sub)
        self.by_owner_type[(owner, sub.type)].remove(sub)
        for user in named_users(sub.condition):
            self.by_owner_user[(owner, user)].remove(sub)
        self.by_condition[(owner, sub.type, condition_key(sub.condition))].pop(sub.id, None)
        self.by_type[(sub.type, sub.version)].pop(sub.id, None)
        if sub.conduit_id is not None:
            self.by_conduit[sub.conduit_id].pop(sub.id, None)
        self.costly[owner].pop(sub.id, None)

    # -- reads (never create an empty entry) -----------------------------------------------

    def owned(self, owner: Owner) -> CreationOrder:
        return self.by_owner.get(owner) or CreationOrder()

    def of_type(self, owner: Owner, sub_type: str) -> CreationOrder:
        return self.by_owner_type.get((owner, sub_type)) or CreationOrder()

    def naming(self, owner: Owner, user_id: str) -> CreationOrder:
        return self.by_owner_user.get((owner, user_id)) or CreationOrder()

    def same_condition(
        self, owner: Owner, sub_type: str, condition: Mapping[str, str]
    ) -> list[EventSubSubscription]:
        found = self.by_condition.get((owner, sub_type, condition_key(condition)))
        return list(found.values()) if found else []

    def of_type_version(self, sub_type: str, version: str) -> list[EventSubSubscription]:
        found = self.by_type.get((sub_type, version))
        return list(found.values()) if found else []

    def on_conduit(self, conduit_id: str) -> list[EventSubSubscription]:
        found = self.by_conduit.get(conduit_id)
        return list(found.values()) if found else []

    def costing(self, owner: Owner) -> list[EventSubSubscription]:
        found = self.costly.get(owner)
        return list(found.values()) if found else []
