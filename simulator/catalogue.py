"""The EventSub subscription types the simulator knows, with Twitch's authorization rules.

For each type: the current version, the scopes that authorize it (any one suffices), the
condition fields, and which condition field names the user whose token must create it over
WebSocket. Types without scopes cost 1 unless the condition's user has authorized the client.

Twitch's sources: versions and scopes in
https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/ , condition fields in
https://dev.twitch.tv/docs/eventsub/eventsub-reference/ , cost in
https://dev.twitch.tv/docs/eventsub/manage-subscriptions/
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SubscriptionType:
    """One EventSub type/version and its authorization rules."""

    name: str
    version: str
    scopes: tuple[str, ...] = ()
    required: tuple[str, ...] = ("broadcaster_user_id",)
    optional: tuple[str, ...] = ()
    #: Exactly one of these must be given (channel.raid).
    exactly_one_of: tuple[str, ...] = ()
    #: Condition field whose user must be the token's user (None: no authorization needed).
    authorized_field: str | None = "broadcaster_user_id"
    #: The authorized user must moderate the channel in broadcaster_user_id (or own it).
    needs_moderator: bool = False
    #: Chat types: with an app token the chatting user must also have granted `user:bot`, and
    #: the broadcaster `channel:bot` unless the chatting user moderates the channel.
    app_token_needs_bot: bool = False
    #: Only an app token may create it, for its own client id in `condition.client_id`.
    app_token_only: bool = False

    @property
    def needs_authorization(self) -> bool:
        return bool(self.scopes)

    @property
    def condition_fields(self) -> tuple[str, ...]:
        return self.required + self.optional + self.exactly_one_of


_SUBS = ("channel:read:subscriptions",)
_REDEMPTIONS = ("channel:read:redemptions", "channel:manage:redemptions")
_POLLS = ("channel:read:polls", "channel:manage:polls")
_PREDICTIONS = ("channel:read:predictions", "channel:manage:predictions")
_SHOUTOUTS = ("moderator:read:shoutouts", "moderator:manage:shoutouts")
_CHAT = ("user:read:chat",)
_MOD_CONDITION = ("broadcaster_user_id", "moderator_user_id")
_CHAT_CONDITION = ("broadcaster_user_id", "user_id")


def _public(name: str, version: str = "1") -> SubscriptionType:
    return SubscriptionType(name, version, authorized_field=None)


def _chat(name: str) -> SubscriptionType:
    return SubscriptionType(
        name, "1", _CHAT, _CHAT_CONDITION, authorized_field="user_id", app_token_needs_bot=True
    )


#: Sent by Twitch itself when a conduit shard is disabled; the event names the conduit, the
#: shard and its dead transport: https://dev.twitch.tv/docs/eventsub/handling-conduit-events/
SHARD_DISABLED = "conduit.shard.disabled"
#: Sent by Twitch when a user revokes their authorization of a client id; webhook and conduit
#: only, with an app token whose client id is the condition's `client_id`:
#: https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/#userauthorizationrevoke
USER_AUTHORIZATION_REVOKE = "user.authorization.revoke"


_TYPES: list[SubscriptionType] = [
    SubscriptionType(
        "channel.follow",
        "2",
        ("moderator:read:followers",),
        _MOD_CONDITION,
        authorized_field="moderator_user_id",
        needs_moderator=True,
    ),
    SubscriptionType("channel.subscribe", "1", _SUBS),
    SubscriptionType("channel.subscription.gift", "1", _SUBS),
    SubscriptionType("channel.subscription.message", "1", _SUBS),
    SubscriptionType("channel.subscription.end", "1", _SUBS),
    SubscriptionType("channel.cheer", "1", ("bits:read",)),
    SubscriptionType("channel.bits.use", "1", ("bits:read",)),
    SubscriptionType(
        "channel.raid",
        "1",
        required=(),
        exactly_one_of=("from_broadcaster_user_id", "to_broadcaster_user_id"),
        authorized_field=None,
    ),
    SubscriptionType(
        "channel.channel_points_custom_reward_redemption.add",
        "1",
        _REDEMPTIONS,
        optional=("reward_id",),
    ),
    SubscriptionType(
        "channel.channel_points_custom_reward_redemption.update",
        "1",
        _REDEMPTIONS,
        optional=("reward_id",),
    ),
    _chat("channel.chat.message"),
    _chat("channel.chat.notification"),
    _chat("channel.chat.message_delete"),
    SubscriptionType("channel.hype_train.begin", "2", ("channel:read:hype_train",)),
    SubscriptionType("channel.hype_train.progress", "2", ("channel:read:hype_train",)),
    SubscriptionType("channel.hype_train.end", "2", ("channel:read:hype_train",)),
    SubscriptionType("channel.poll.begin", "1", _POLLS),
    SubscriptionType("channel.poll.progress", "1", _POLLS),
    SubscriptionType("channel.poll.end", "1", _POLLS),
    SubscriptionType("channel.prediction.begin", "1", _PREDICTIONS),
    SubscriptionType("channel.prediction.progress", "1", _PREDICTIONS),
    SubscriptionType("channel.prediction.lock", "1", _PREDICTIONS),
    SubscriptionType("channel.prediction.end", "1", _PREDICTIONS),
    _public("stream.online"),
    _public("stream.offline"),
    SubscriptionType("channel.ad_break.begin", "1", ("channel:read:ads",)),
    _public("channel.update", "2"),
    SubscriptionType("channel.ban", "1", ("channel:moderate",)),
    SubscriptionType("channel.unban", "1", ("channel:moderate",)),
    SubscriptionType(
        "channel.shoutout.create",
        "1",
        _SHOUTOUTS,
        _MOD_CONDITION,
        authorized_field="moderator_user_id",
        needs_moderator=True,
    ),
    SubscriptionType(
        "channel.shoutout.receive",
        "1",
        _SHOUTOUTS,
        _MOD_CONDITION,
        authorized_field="moderator_user_id",
        needs_moderator=True,
    ),
    SubscriptionType("channel.goal.begin", "1", ("channel:read:goals",)),
    SubscriptionType("channel.goal.progress", "1", ("channel:read:goals",)),
    SubscriptionType("channel.goal.end", "1", ("channel:read:goals",)),
    SubscriptionType("channel.moderator.add", "1", ("moderation:read",)),
    SubscriptionType("channel.moderator.remove", "1", ("moderation:read",)),
    SubscriptionType("channel.vip.add", "1", ("channel:read:vips", "channel:manage:vips")),
    SubscriptionType("channel.vip.remove", "1", ("channel:read:vips", "channel:manage:vips")),
]

#: Types about the app itself rather than a channel; the simulator sends their events on its
#: own (a shard's socket closes, a user revokes the app), so they are not in CURRENT_VERSIONS
#: and cannot be triggered.
APP_TYPES: tuple[SubscriptionType, ...] = (
    SubscriptionType(
        SHARD_DISABLED,
        "1",
        required=("client_id",),
        optional=("conduit_id",),
        authorized_field=None,
        app_token_only=True,
    ),
    SubscriptionType(
        USER_AUTHORIZATION_REVOKE,
        "1",
        required=("client_id",),
        authorized_field=None,
        app_token_only=True,
    ),
)

#: (type, version) -> rules, for the current version of every supported type.
CATALOGUE: dict[tuple[str, str], SubscriptionType] = {
    (t.name, t.version): t for t in (*_TYPES, *APP_TYPES)
}

#: Type/version pairs Twitch has removed: creating them answers 410 Gone.
REMOVED_VERSIONS: frozenset[tuple[str, str]] = frozenset({("channel.follow", "1")})

#: Channel event type -> its current version (the types the simulator can trigger).
CURRENT_VERSIONS: dict[str, str] = {t.name: t.version for t in _TYPES}


def lookup(name: str, version: str) -> SubscriptionType | None:
    """The rules for a type/version pair, or None if Twitch does not offer it."""
    return CATALOGUE.get((name, version))
