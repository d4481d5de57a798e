"""Alerts: follows, subs, resubs, gift subs, cheers and raids, ready for an overlay.

Emits (data models below, schemas at GET /events/schema):
- `alert.follow`  {user, followed_at}
- `alert.sub`     {user, tier, is_gift}   (also sent for each gifted sub's recipient)
- `alert.resub`   {user, tier, months, streak_months, duration_months, message}
- `alert.gift`    {user (null if anonymous), anonymous, count, tier, cumulative_total}
- `alert.cheer`   {user (null if anonymous), anonymous, bits, message}
- `alert.raid`    {user (the raiding channel), viewers}
`user` is {id, login, name}. Scopes: moderator:read:followers (follows), channel:read:
subscriptions (subs, resubs, gifts), bits:read (cheers); raids need none.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from workers.base import BaseWorker
from workers.models import (
    ChannelCheer,
    ChannelFollow,
    ChannelRaid,
    ChannelSubscribe,
    ChannelSubscriptionGift,
    ChannelSubscriptionMessage,
)


class AlertUser(BaseModel):
    id: str
    login: str
    name: str


class FollowAlert(BaseModel):
    user: AlertUser
    followed_at: str


class SubAlert(BaseModel):
    user: AlertUser
    tier: str
    is_gift: bool


class ResubAlert(BaseModel):
    user: AlertUser
    tier: str
    months: int
    streak_months: int | None
    duration_months: int
    message: str


class GiftAlert(BaseModel):
    user: AlertUser | None
    anonymous: bool
    count: int
    tier: str
    cumulative_total: int | None


class CheerAlert(BaseModel):
    user: AlertUser | None
    anonymous: bool
    bits: int
    message: str


class RaidAlert(BaseModel):
    user: AlertUser
    viewers: int


def _user(user_id: str | None, login: str | None, name: str | None) -> AlertUser | None:
    if user_id is None or login is None or name is None:
        return None
    return AlertUser(id=user_id, login=login, name=name)


def _unless_anonymous(event: ChannelSubscriptionGift | ChannelCheer) -> AlertUser | None:
    """The user of a gift or cheer, or None when they chose to stay anonymous."""
    if event.is_anonymous:
        return None
    return _user(event.user_id, event.user_login, event.user_name)


class AlertsWorker(BaseWorker):
    required_scopes = ["moderator:read:followers", "channel:read:subscriptions", "bits:read"]
    emits = {
        "alert.follow": FollowAlert,
        "alert.sub": SubAlert,
        "alert.resub": ResubAlert,
        "alert.gift": GiftAlert,
        "alert.cheer": CheerAlert,
        "alert.raid": RaidAlert,
    }

    def get_subscriptions(self, broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
        own = {"broadcaster_user_id": broadcaster_id}
        return [
            {
                "type": "channel.follow",
                "version": "2",
                "condition": {**own, "moderator_user_id": moderator_id},
            },
            {"type": "channel.subscribe", "version": "1", "condition": own},
            {"type": "channel.subscription.message", "version": "1", "condition": own},
            {"type": "channel.subscription.gift", "version": "1", "condition": own},
            {"type": "channel.cheer", "version": "1", "condition": own},
            # Raids *into* this channel; raids out are not alerts.
            {
                "type": "channel.raid",
                "version": "1",
                "condition": {"to_broadcaster_user_id": broadcaster_id},
            },
        ]

    async def handle(self, event_type: str, payload: dict[str, Any]) -> None:
        event = self.parse(payload)
        alert: tuple[str, BaseModel] | None = None
        if isinstance(event, ChannelFollow):
            user = AlertUser(id=event.user_id, login=event.user_login, name=event.user_name)
            alert = "alert.follow", FollowAlert(user=user, followed_at=event.followed_at)
        elif isinstance(event, ChannelSubscriptionMessage):
            user = AlertUser(id=event.user_id, login=event.user_login, name=event.user_name)
            alert = (
                "alert.resub",
                ResubAlert(
                    user=user,
                    tier=event.tier,
                    months=event.cumulative_months,
                    streak_months=event.streak_months,
                    duration_months=event.duration_months,
                    message=event.message.text,
                ),
            )
        elif isinstance(event, ChannelSubscribe):
            user = AlertUser(id=event.user_id, login=event.user_login, name=event.user_name)
            alert = "alert.sub", SubAlert(user=user, tier=event.tier, is_gift=event.is_gift)
        elif isinstance(event, ChannelSubscriptionGift):
            gifter = _unless_anonymous(event)
            alert = (
                "alert.gift",
                GiftAlert(
                    user=gifter,
                    anonymous=event.is_anonymous,
                    count=event.total,
                    tier=event.tier,
                    cumulative_total=event.cumulative_total,
                ),
            )
        elif isinstance(event, ChannelCheer):
            cheerer = _unless_anonymous(event)
            alert = (
                "alert.cheer",
                CheerAlert(
                    user=cheerer,
                    anonymous=event.is_anonymous,
                    bits=event.bits,
                    message=event.message,
                ),
            )
        elif isinstance(event, ChannelRaid):
            raider = AlertUser(
                id=event.from_broadcaster_user_id,
                login=event.from_broadcaster_user_login,
                name=event.from_broadcaster_user_name,
            )
            alert = "alert.raid", RaidAlert(user=raider, viewers=event.viewers)
        if alert is not None:
            await self.emit(*alert)
