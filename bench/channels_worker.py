"""The channels benchmark's only worker: exactly five EventSub types per channel.

StreamCore's built-in workers want 14 types per channel (alerts 6, hype_train 3, chat 2,
stream_status 2, redemptions 1), and discovery has no setting to pick some of them. So the bench
runs `streamcore run` with its own `workers` package first on PYTHONPATH (what mounting another
workers folder into the container does): `base.py` and `models/` linked to the real ones, and
this file linked in as `workers/channels_worker.py`, the one module discovery finds.

The five types need three different scopes, so the onboarding exercises the per-broadcaster
authorization checks the simulator makes for app-token (conduit) subscriptions.
"""

from __future__ import annotations

from typing import Any

from workers.base import BaseWorker

#: (type, version) per channel; channel.follow v2 also names the moderator (the broadcaster).
TYPES: tuple[tuple[str, str], ...] = (
    ("channel.follow", "2"),
    ("channel.subscribe", "1"),
    ("channel.cheer", "1"),
    ("stream.online", "1"),
    ("stream.offline", "1"),
)


def conditions(broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
    """The five subscriptions of one channel, as get_subscriptions returns them."""
    own = {"broadcaster_user_id": broadcaster_id}
    wanted = []
    for sub_type, version in TYPES:
        condition = dict(own)
        if sub_type == "channel.follow":
            condition["moderator_user_id"] = moderator_id
        wanted.append({"type": sub_type, "version": version, "condition": condition})
    return wanted


class ChannelsBenchWorker(BaseWorker):
    name = "channels_bench"
    required_scopes = ["bits:read", "channel:read:subscriptions", "moderator:read:followers"]
    emits = {"channels.bench": None}

    def get_subscriptions(self, broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
        return conditions(broadcaster_id, moderator_id)

    async def handle(self, event_type: str, payload: dict[str, Any]) -> None:
        return None
