"""Models of the channel, stream and hype train events (everything but chat)."""

from __future__ import annotations

from typing import Any

from workers.models.base import BroadcasterRef, EventModel, UserRef


class ChannelFollow(BroadcasterRef):
    user_id: str
    user_login: str
    user_name: str
    followed_at: str


class ChannelSubscribe(BroadcasterRef):
    user_id: str
    user_login: str
    user_name: str
    tier: str
    is_gift: bool


class ChannelSubscriptionEnd(ChannelSubscribe):
    pass


class ChannelSubscriptionGift(BroadcasterRef):
    user_id: str | None = None
    user_login: str | None = None
    user_name: str | None = None
    total: int
    tier: str
    cumulative_total: int | None = None
    is_anonymous: bool


class Emote(EventModel):
    begin: int
    end: int
    id: str


class ResubMessage(EventModel):
    text: str
    emotes: list[Emote] | None = None


class ChannelSubscriptionMessage(BroadcasterRef):
    user_id: str
    user_login: str
    user_name: str
    tier: str
    message: ResubMessage
    cumulative_months: int
    streak_months: int | None = None
    duration_months: int


class ChannelCheer(BroadcasterRef):
    is_anonymous: bool
    user_id: str | None = None
    user_login: str | None = None
    user_name: str | None = None
    message: str
    bits: int


class ChannelBitsUse(BroadcasterRef):
    user_id: str
    user_login: str
    user_name: str
    bits: int
    type: str
    message: dict[str, Any] | None = None
    power_up: dict[str, Any] | None = None


class ChannelRaid(EventModel):
    from_broadcaster_user_id: str
    from_broadcaster_user_login: str
    from_broadcaster_user_name: str
    to_broadcaster_user_id: str
    to_broadcaster_user_login: str
    to_broadcaster_user_name: str
    viewers: int


class Reward(EventModel):
    id: str
    title: str
    cost: int
    prompt: str = ""


class ChannelPointsRedemption(BroadcasterRef):
    id: str
    user_id: str
    user_login: str
    user_name: str
    user_input: str = ""
    status: str
    reward: Reward
    redeemed_at: str


class HypeTrainContribution(UserRef):
    type: str
    total: int


class HypeTrainParticipant(BroadcasterRef):
    pass


class HypeTrainProgress(BroadcasterRef):
    id: str
    total: int
    progress: int
    goal: int
    top_contributions: list[HypeTrainContribution] = []
    level: int
    shared_train_participants: list[HypeTrainParticipant] | None = None
    started_at: str
    expires_at: str
    type: str = "regular"
    is_shared_train: bool = False


class HypeTrainBegin(HypeTrainProgress):
    all_time_high_level: int | None = None
    all_time_high_total: int | None = None


class HypeTrainEnd(BroadcasterRef):
    id: str
    total: int
    top_contributions: list[HypeTrainContribution] = []
    level: int
    shared_train_participants: list[HypeTrainParticipant] | None = None
    started_at: str
    cooldown_ends_at: str
    ended_at: str
    type: str = "regular"
    is_shared_train: bool = False


class PollChoice(EventModel):
    id: str
    title: str
    bits_votes: int = 0
    channel_points_votes: int = 0
    votes: int = 0


class ChannelPoll(BroadcasterRef):
    id: str
    title: str
    choices: list[PollChoice]
    bits_voting: dict[str, Any] | None = None
    channel_points_voting: dict[str, Any] | None = None
    started_at: str
    ends_at: str | None = None
    status: str | None = None
    ended_at: str | None = None


class Predictor(UserRef):
    channel_points_won: int | None = None
    channel_points_used: int


class PredictionOutcome(EventModel):
    id: str
    title: str
    color: str
    users: int = 0
    channel_points: int = 0
    top_predictors: list[Predictor] | None = None


class ChannelPrediction(BroadcasterRef):
    id: str
    title: str
    outcomes: list[PredictionOutcome]
    started_at: str
    locks_at: str | None = None
    locked_at: str | None = None
    winning_outcome_id: str | None = None
    status: str | None = None
    ended_at: str | None = None


class StreamOnline(BroadcasterRef):
    id: str
    type: str
    started_at: str


class StreamOffline(BroadcasterRef):
    pass


class ChannelAdBreakBegin(BroadcasterRef):
    duration_seconds: int
    started_at: str
    is_automatic: bool
    requester_user_id: str | None = None
    requester_user_login: str | None = None
    requester_user_name: str | None = None


class ChannelUpdate(BroadcasterRef):
    title: str
    language: str
    category_id: str
    category_name: str
    content_classification_labels: list[str] = []


class ChannelBan(BroadcasterRef):
    user_id: str
    user_login: str
    user_name: str
    moderator_user_id: str
    moderator_user_login: str
    moderator_user_name: str
    reason: str = ""
    banned_at: str
    ends_at: str | None = None
    is_permanent: bool


class ChannelShoutoutCreate(BroadcasterRef):
    to_broadcaster_user_id: str
    to_broadcaster_user_login: str
    to_broadcaster_user_name: str
    moderator_user_id: str
    moderator_user_login: str
    moderator_user_name: str
    viewer_count: int
    started_at: str
    cooldown_ends_at: str
    target_cooldown_ends_at: str


class ChannelShoutoutReceive(BroadcasterRef):
    from_broadcaster_user_id: str
    from_broadcaster_user_login: str
    from_broadcaster_user_name: str
    viewer_count: int
    started_at: str


class ChannelGoal(BroadcasterRef):
    id: str
    type: str
    description: str = ""
    current_amount: int
    target_amount: int
    started_at: str
    is_achieved: bool | None = None
    ended_at: str | None = None
