"""Models of the channel.chat.* events."""

from __future__ import annotations

from workers.models.base import BroadcasterRef, EventModel


class ChatEmote(EventModel):
    id: str
    emote_set_id: str | None = None
    owner_id: str | None = None
    format: list[str] | None = None


class ChatCheermote(EventModel):
    prefix: str
    bits: int
    tier: int


class ChatMention(EventModel):
    user_id: str
    user_name: str
    user_login: str


class ChatFragment(EventModel):
    type: str
    text: str
    cheermote: ChatCheermote | None = None
    emote: ChatEmote | None = None
    mention: ChatMention | None = None


class ChatMessageBody(EventModel):
    text: str
    fragments: list[ChatFragment] = []


class ChatBadge(EventModel):
    set_id: str
    id: str
    info: str = ""


class ChatReply(EventModel):
    parent_message_id: str
    parent_message_body: str
    parent_user_id: str
    parent_user_login: str
    parent_user_name: str
    thread_message_id: str
    thread_user_id: str
    thread_user_login: str
    thread_user_name: str


class ChatCheer(EventModel):
    bits: int


class ChannelChatMessage(BroadcasterRef):
    chatter_user_id: str
    chatter_user_login: str
    chatter_user_name: str
    message_id: str
    message: ChatMessageBody
    message_type: str = "text"
    badges: list[ChatBadge] = []
    cheer: ChatCheer | None = None
    color: str = ""
    reply: ChatReply | None = None
    channel_points_custom_reward_id: str | None = None
    source_broadcaster_user_id: str | None = None
    source_broadcaster_user_login: str | None = None
    source_broadcaster_user_name: str | None = None
    source_message_id: str | None = None
    source_badges: list[ChatBadge] | None = None
    is_source_only: bool | None = None


class ChannelChatNotification(BroadcasterRef):
    chatter_user_id: str | None = None
    chatter_user_login: str | None = None
    chatter_user_name: str | None = None
    chatter_is_anonymous: bool = False
    color: str = ""
    badges: list[ChatBadge] = []
    system_message: str = ""
    message_id: str
    message: ChatMessageBody
    notice_type: str


class ChannelChatMessageDelete(BroadcasterRef):
    target_user_id: str
    target_user_login: str
    target_user_name: str
    message_id: str
