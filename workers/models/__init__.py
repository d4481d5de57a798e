"""Typed models of the EventSub `event` objects.

Field names and types follow Twitch's EventSub reference:
https://dev.twitch.tv/docs/eventsub/eventsub-reference/

`parse_event("channel.follow", payload["event"])` returns a `ChannelFollow`; inside a worker,
`self.parse(payload)` does the same from the whole notification payload. Unknown types parse
to `UnknownEvent`. Models keep fields they do not declare (`extra="allow"`), so a field Twitch
adds tomorrow is still reachable, and raw dict access on the payload always keeps working.
Timestamps stay strings: Twitch sends nanosecond precision that `datetime` would truncate.
"""

from __future__ import annotations

from typing import Any

from workers.models.base import BroadcasterRef, EventModel, UserRef
from workers.models.channel import (
    ChannelAdBreakBegin,
    ChannelBan,
    ChannelBitsUse,
    ChannelCheer,
    ChannelFollow,
    ChannelGoal,
    ChannelPointsRedemption,
    ChannelPoll,
    ChannelPrediction,
    ChannelRaid,
    ChannelShoutoutCreate,
    ChannelShoutoutReceive,
    ChannelSubscribe,
    ChannelSubscriptionEnd,
    ChannelSubscriptionGift,
    ChannelSubscriptionMessage,
    ChannelUpdate,
    Emote,
    HypeTrainBegin,
    HypeTrainContribution,
    HypeTrainEnd,
    HypeTrainParticipant,
    HypeTrainProgress,
    PollChoice,
    PredictionOutcome,
    Predictor,
    ResubMessage,
    Reward,
    StreamOffline,
    StreamOnline,
)
from workers.models.chat import (
    ChannelChatMessage,
    ChannelChatMessageDelete,
    ChannelChatNotification,
    ChatBadge,
    ChatCheer,
    ChatCheermote,
    ChatEmote,
    ChatFragment,
    ChatMention,
    ChatMessageBody,
    ChatReply,
)


class UnknownEvent(EventModel):
    """Any type without a model here: every field is kept as it came."""


#: Subscription type -> model of its `event` object.
EVENT_MODELS: dict[str, type[EventModel]] = {
    "channel.follow": ChannelFollow,
    "channel.subscribe": ChannelSubscribe,
    "channel.subscription.gift": ChannelSubscriptionGift,
    "channel.subscription.message": ChannelSubscriptionMessage,
    "channel.subscription.end": ChannelSubscriptionEnd,
    "channel.cheer": ChannelCheer,
    "channel.bits.use": ChannelBitsUse,
    "channel.raid": ChannelRaid,
    "channel.channel_points_custom_reward_redemption.add": ChannelPointsRedemption,
    "channel.channel_points_custom_reward_redemption.update": ChannelPointsRedemption,
    "channel.chat.message": ChannelChatMessage,
    "channel.chat.notification": ChannelChatNotification,
    "channel.chat.message_delete": ChannelChatMessageDelete,
    "channel.hype_train.begin": HypeTrainBegin,
    "channel.hype_train.progress": HypeTrainProgress,
    "channel.hype_train.end": HypeTrainEnd,
    "channel.poll.begin": ChannelPoll,
    "channel.poll.progress": ChannelPoll,
    "channel.poll.end": ChannelPoll,
    "channel.prediction.begin": ChannelPrediction,
    "channel.prediction.progress": ChannelPrediction,
    "channel.prediction.lock": ChannelPrediction,
    "channel.prediction.end": ChannelPrediction,
    "stream.online": StreamOnline,
    "stream.offline": StreamOffline,
    "channel.ad_break.begin": ChannelAdBreakBegin,
    "channel.update": ChannelUpdate,
    "channel.ban": ChannelBan,
    "channel.shoutout.create": ChannelShoutoutCreate,
    "channel.shoutout.receive": ChannelShoutoutReceive,
    "channel.goal.begin": ChannelGoal,
    "channel.goal.progress": ChannelGoal,
    "channel.goal.end": ChannelGoal,
}


def parse_event(event_type: str, event: dict[str, Any]) -> EventModel:
    """The typed model of one `event` object; raises pydantic.ValidationError if malformed."""
    return EVENT_MODELS.get(event_type, UnknownEvent).model_validate(event)


__all__ = [
    "EVENT_MODELS",
    "BroadcasterRef",
    "ChannelAdBreakBegin",
    "ChannelBan",
    "ChannelBitsUse",
    "ChannelChatMessage",
    "ChannelChatMessageDelete",
    "ChannelChatNotification",
    "ChannelCheer",
    "ChannelFollow",
    "ChannelGoal",
    "ChannelPointsRedemption",
    "ChannelPoll",
    "ChannelPrediction",
    "ChannelRaid",
    "ChannelShoutoutCreate",
    "ChannelShoutoutReceive",
    "ChannelSubscribe",
    "ChannelSubscriptionEnd",
    "ChannelSubscriptionGift",
    "ChannelSubscriptionMessage",
    "ChannelUpdate",
    "ChatBadge",
    "ChatCheer",
    "ChatCheermote",
    "ChatEmote",
    "ChatFragment",
    "ChatMention",
    "ChatMessageBody",
    "ChatReply",
    "Emote",
    "EventModel",
    "HypeTrainBegin",
    "HypeTrainContribution",
    "HypeTrainEnd",
    "HypeTrainParticipant",
    "HypeTrainProgress",
    "PollChoice",
    "PredictionOutcome",
    "Predictor",
    "ResubMessage",
    "Reward",
    "StreamOffline",
    "StreamOnline",
    "UnknownEvent",
    "UserRef",
    "parse_event",
]
