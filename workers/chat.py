"""Chat: every chat message with its fragments and emote image URLs, ready for an overlay.

Emits `chat.message` {id, user {id, login, name, color, badges [{set_id, id, info}]}, text,
message_type, fragments [{type, text, emote {id, url} | null, mention {id, login, name} |
null, cheermote {prefix, bits, tier} | null}], emotes [{id, name, url}] (each emote once),
bits (null unless a cheer), reply {parent_message_id, parent_user_name, parent_text} | null},
and `chat.delete` {message_id, user_id} when a moderator deletes a message, so the overlay
can remove it.

It reads chat as the account StreamCore is authorized with: the broadcaster, or the
moderator account when TWITCH_MODERATOR_ID is set. Scope: user:read:chat.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from workers.base import BaseWorker
from workers.models import ChannelChatMessage, ChannelChatMessageDelete, ChatFragment

EMOTE_URL = "https://static-cdn.jtvnw.net/emoticons/v2/{id}/default/dark/1.0"


class ChatBadge(BaseModel):
    set_id: str
    id: str
    info: str


class Chatter(BaseModel):
    id: str
    login: str
    name: str
    color: str
    badges: list[ChatBadge]


class EmoteImage(BaseModel):
    id: str
    url: str


class NamedEmote(EmoteImage):
    name: str


class Mention(BaseModel):
    id: str
    login: str
    name: str


class Cheermote(BaseModel):
    prefix: str
    bits: int
    tier: int


class Fragment(BaseModel):
    type: str
    text: str
    emote: EmoteImage | None = None
    mention: Mention | None = None
    cheermote: Cheermote | None = None


class Reply(BaseModel):
    parent_message_id: str
    parent_user_name: str
    parent_text: str


class ChatMessage(BaseModel):
    id: str
    user: Chatter
    text: str
    message_type: str
    fragments: list[Fragment]
    emotes: list[NamedEmote]
    bits: int | None
    reply: Reply | None


class ChatDelete(BaseModel):
    message_id: str
    user_id: str


def emote_url(emote_id: str) -> str:
    return EMOTE_URL.format(id=emote_id)


def _fragment(raw: ChatFragment) -> Fragment:
    fragment = Fragment(type=raw.type, text=raw.text)
    if raw.emote is not None:
        fragment.emote = EmoteImage(id=raw.emote.id, url=emote_url(raw.emote.id))
    if raw.mention is not None:
        fragment.mention = Mention(
            id=raw.mention.user_id, login=raw.mention.user_login, name=raw.mention.user_name
        )
    if raw.cheermote is not None:
        fragment.cheermote = Cheermote(
            prefix=raw.cheermote.prefix, bits=raw.cheermote.bits, tier=raw.cheermote.tier
        )
    return fragment


def chat_message(event: ChannelChatMessage) -> ChatMessage:
    """Our overlay-ready message from Twitch's event (pure, so it is tested without a bus)."""
    fragments = [_fragment(raw) for raw in event.message.fragments]
    emotes: dict[str, NamedEmote] = {}
    for fragment in fragments:
        if fragment.emote is not None and fragment.emote.id not in emotes:
            emotes[fragment.emote.id] = NamedEmote(
                id=fragment.emote.id, url=fragment.emote.url, name=fragment.text
            )
    reply = None
    if event.reply is not None:
        reply = Reply(
            parent_message_id=event.reply.parent_message_id,
            parent_user_name=event.reply.parent_user_name,
            parent_text=event.reply.parent_message_body,
        )
    return ChatMessage(
        id=event.message_id,
        user=Chatter(
            id=event.chatter_user_id,
            login=event.chatter_user_login,
            name=event.chatter_user_name,
            color=event.color,
            badges=[ChatBadge(set_id=b.set_id, id=b.id, info=b.info) for b in event.badges],
        ),
        text=event.message.text,
        message_type=event.message_type,
        fragments=fragments,
        emotes=list(emotes.values()),
        bits=None if event.cheer is None else event.cheer.bits,
        reply=reply,
    )


class ChatWorker(BaseWorker):
    required_scopes = ["user:read:chat"]
    emits = {"chat.message": ChatMessage, "chat.delete": ChatDelete}

    def get_subscriptions(self, broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
        # `user_id` is the account reading chat; on WebSocket it must be the token's user.
        condition = {"broadcaster_user_id": broadcaster_id, "user_id": moderator_id}
        return [
            {"type": "channel.chat.message", "version": "1", "condition": condition},
            {"type": "channel.chat.message_delete", "version": "1", "condition": condition},
        ]

    async def handle(self, event_type: str, payload: dict[str, Any]) -> None:
        event = self.parse(payload)
        if isinstance(event, ChannelChatMessage):
            await self.emit("chat.message", chat_message(event))
        elif isinstance(event, ChannelChatMessageDelete):
            await self.emit(
                "chat.delete", ChatDelete(message_id=event.message_id, user_id=event.target_user_id)
            )
