"""Hype train (EventSub v2): begin, progress and end, ready for a progress bar.

Emits `hype_train.begin` and `hype_train.progress` {id, level, total, progress, goal, type,
is_shared_train, top_contributions [{user {id, login, name}, type, total}], started_at,
expires_at}, and `hype_train.end` {id, level, total, type, is_shared_train,
top_contributions, started_at, ended_at, cooldown_ends_at}. Progress may arrive before
begin (Twitch does that); overlays should treat either as "a train is running".
Scope: channel:read:hype_train.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from workers.base import BaseWorker
from workers.models import HypeTrainContribution, HypeTrainEnd, HypeTrainProgress


class Contributor(BaseModel):
    id: str
    login: str
    name: str


class Contribution(BaseModel):
    user: Contributor
    type: str
    total: int


class HypeTrainRunning(BaseModel):
    id: str
    level: int
    total: int
    progress: int
    goal: int
    type: str
    is_shared_train: bool
    top_contributions: list[Contribution]
    started_at: str
    expires_at: str


class HypeTrainEnded(BaseModel):
    id: str
    level: int
    total: int
    type: str
    is_shared_train: bool
    top_contributions: list[Contribution]
    started_at: str
    ended_at: str
    cooldown_ends_at: str


def _contributions(raw: list[HypeTrainContribution]) -> list[Contribution]:
    return [
        Contribution(
            user=Contributor(id=c.user_id, login=c.user_login, name=c.user_name),
            type=c.type,
            total=c.total,
        )
        for c in raw
    ]


class HypeTrainWorker(BaseWorker):
    required_scopes = ["channel:read:hype_train"]
    emits = {
        "hype_train.begin": HypeTrainRunning,
        "hype_train.progress": HypeTrainRunning,
        "hype_train.end": HypeTrainEnded,
    }

    def get_subscriptions(self, broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
        condition = {"broadcaster_user_id": broadcaster_id}
        return [
            {"type": f"channel.hype_train.{phase}", "version": "2", "condition": condition}
            for phase in ("begin", "progress", "end")
        ]

    async def handle(self, event_type: str, payload: dict[str, Any]) -> None:
        event = self.parse(payload)
        phase = event_type.rpartition(".")[2]
        if isinstance(event, HypeTrainEnd):
            await self.emit(
                "hype_train.end",
                HypeTrainEnded(
                    id=event.id,
                    level=event.level,
                    total=event.total,
                    type=event.type,
                    is_shared_train=event.is_shared_train,
                    top_contributions=_contributions(event.top_contributions),
                    started_at=event.started_at,
                    ended_at=event.ended_at,
                    cooldown_ends_at=event.cooldown_ends_at,
                ),
            )
        elif isinstance(event, HypeTrainProgress):  # begin is a subclass of progress
            await self.emit(
                f"hype_train.{phase}",
                HypeTrainRunning(
                    id=event.id,
                    level=event.level,
                    total=event.total,
                    progress=event.progress,
                    goal=event.goal,
                    type=event.type,
                    is_shared_train=event.is_shared_train,
                    top_contributions=_contributions(event.top_contributions),
                    started_at=event.started_at,
                    expires_at=event.expires_at,
                ),
            )
