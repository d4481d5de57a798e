"""Channel points: each new redemption of a custom reward, ready for an overlay.

Emits `redemption` {id, user {id, login, name}, reward {id, title, cost, prompt}, input,
status, redeemed_at}. Scope: channel:read:redemptions.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from workers.base import BaseWorker
from workers.models import ChannelPointsRedemption


class RedemptionUser(BaseModel):
    id: str
    login: str
    name: str


class RedeemedReward(BaseModel):
    id: str
    title: str
    cost: int
    prompt: str


class Redemption(BaseModel):
    id: str
    user: RedemptionUser
    reward: RedeemedReward
    input: str
    status: str
    redeemed_at: str


class RedemptionsWorker(BaseWorker):
    required_scopes = ["channel:read:redemptions"]
    emits = {"redemption": Redemption}

    def get_subscriptions(self, broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
        return [
            {
                "type": "channel.channel_points_custom_reward_redemption.add",
                "version": "1",
                "condition": {"broadcaster_user_id": broadcaster_id},
            }
        ]

    async def handle(self, event_type: str, payload: dict[str, Any]) -> None:
        event = self.parse(payload)
        if not isinstance(event, ChannelPointsRedemption):
            return
        await self.emit(
            "redemption",
            Redemption(
                id=event.id,
                user=RedemptionUser(id=event.user_id, login=event.user_login, name=event.user_name),
                reward=RedeemedReward(
                    id=event.reward.id,
                    title=event.reward.title,
                    cost=event.reward.cost,
                    prompt=event.reward.prompt,
                ),
                input=event.user_input,
                status=event.status,
                redeemed_at=event.redeemed_at,
            ),
        )
