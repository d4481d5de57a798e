"""Built-in actions: chat, shoutouts, clips, markers, polls and predictions.

Each action is one Helix call with Twitch's own names and limits
(https://dev.twitch.tv/docs/api/reference/), made for the channel the call names (or the
default channel) with that channel's token. Chat messages go out as the bot account when one
is authorized, and announcements and shoutouts as the moderator account when one is set
(GET /tokens/link?account=bot|moderator). Twitch's refusals come back as `twitch_error`
with Twitch's status and message (a shoutout within Twitch's cooldown: 429; a clip or marker
while offline: 404; a second poll while one runs: 400).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from workers.actions import action
from workers.base import BaseWorker

Message = Annotated[str, Field(min_length=1, max_length=500)]
Choice = Annotated[str, Field(min_length=1, max_length=25)]
Login = Annotated[str, Field(min_length=1, max_length=64)]
MessageId = Annotated[str, Field(min_length=1, max_length=100)]


class TwitchActionsWorker(BaseWorker):
    """No events: only the actions below."""

    name = "twitch_actions"
    emits = {}  # nothing: an actions-only worker (said so, so no warning asks for emits)

    def get_subscriptions(self, broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
        return []

    async def handle(self, event_type: str, payload: dict[str, Any]) -> None:
        return None

    async def _broadcaster(self) -> str:
        return self.channel.id if self.channel is not None else await self.twitch.own_user_id()

    async def _first(self, method: str, path: str, **parts: Any) -> dict[str, Any]:
        answer = await self.twitch.request(method, path, **parts)
        data: dict[str, Any] = answer.json()["data"][0]
        return data

    @action(
        "chat.send", scopes=["user:write:chat"], account="bot", description="Send a chat message"
    )
    async def chat_send(
        self, message: Message, reply_to: MessageId | None = None
    ) -> dict[str, Any]:
        sender = await self.twitch_as("bot")
        return await sender.send_chat_message(
            message, await self._broadcaster(), reply_parent_message_id=reply_to
        )

    @action(
        "chat.reply",
        scopes=["user:write:chat"],
        account="bot",
        description="Reply to a chat message",
    )
    async def chat_reply(self, message: Message, reply_to: MessageId) -> dict[str, Any]:
        sender = await self.twitch_as("bot")
        return await sender.send_chat_message(
            message, await self._broadcaster(), reply_parent_message_id=reply_to
        )

    @action(
        "chat.announce",
        scopes=["moderator:manage:announcements"],
        account="moderator",
        description="Send a highlighted announcement to chat",
    )
    async def chat_announce(
        self,
        message: Message,
        color: Literal["blue", "green", "orange", "purple", "primary"] = "primary",
    ) -> dict[str, Any]:
        broadcaster = await self._broadcaster()
        moderator = await self.twitch_as("moderator")
        params = [("broadcaster_id", broadcaster), ("moderator_id", await moderator.own_user_id())]
        body = {"message": message, "color": color}
        await moderator.request("POST", "chat/announcements", params=params, json=body)
        return {"sent": True}

    @action(
        "shoutout",
        scopes=["moderator:manage:shoutouts"],
        account="moderator",
        description="Shout out another channel (login or id)",
    )
    async def shoutout(
        self, to: Annotated[str, Field(min_length=1, max_length=64)]
    ) -> dict[str, Any]:
        target = to if to.isdigit() else await self._user_id(to)
        broadcaster = await self._broadcaster()
        moderator = await self.twitch_as("moderator")
        params = [
            ("from_broadcaster_id", broadcaster),
            ("to_broadcaster_id", target),
            ("moderator_id", await moderator.own_user_id()),
        ]
        await moderator.request("POST", "chat/shoutouts", params=params)
        return {"to_broadcaster_id": target}

    async def _user_id(self, login: str) -> str:
        users = (await self.twitch.request("GET", "users", params=[("login", login)])).json()
        if not users.get("data"):
            raise ValueError(f"no Twitch user {login!r}")
        user_id: str = users["data"][0]["id"]
        return user_id

    @action("clip.create", scopes=["clips:edit"], description="Clip the live stream")
    async def clip_create(self, has_delay: bool = False) -> dict[str, Any]:
        params = [
            ("broadcaster_id", await self._broadcaster()),
            ("has_delay", str(has_delay).lower()),
        ]
        return await self._first("POST", "clips", params=params)

    @action(
        "marker.create",
        scopes=["channel:manage:broadcast"],
        description="Mark this moment of the live stream",
    )
    async def marker_create(
        self, description: Annotated[str, Field(max_length=140)] = ""
    ) -> dict[str, Any]:
        body = {"user_id": await self._broadcaster(), "description": description}
        return await self._first("POST", "streams/markers", json=body)

    @action("poll.create", scopes=["channel:manage:polls"], description="Start a poll")
    async def poll_create(
        self,
        title: Annotated[str, Field(min_length=1, max_length=60)],
        choices: Annotated[list[Choice], Field(min_length=2, max_length=5)],
        duration_s: Annotated[int, Field(ge=15, le=1800)] = 60,
    ) -> dict[str, Any]:
        body = {
            "broadcaster_id": await self._broadcaster(),
            "title": title,
            "choices": [{"title": choice} for choice in choices],
            "duration": duration_s,
        }
        return await self._first("POST", "polls", json=body)

    @action(
        "prediction.create", scopes=["channel:manage:predictions"], description="Start a prediction"
    )
    async def prediction_create(
        self,
        title: Annotated[str, Field(min_length=1, max_length=45)],
        outcomes: Annotated[list[Choice], Field(min_length=2, max_length=10)],
        window_s: Annotated[int, Field(ge=30, le=1800)] = 120,
    ) -> dict[str, Any]:
        body = {
            "broadcaster_id": await self._broadcaster(),
            "title": title,
            "outcomes": [{"title": outcome} for outcome in outcomes],
            "prediction_window": window_s,
        }
        return await self._first("POST", "predictions", json=body)
