"""Stream status: tells overlays when the stream goes live and when it ends.

Emits `stream.online` {stream_id, type, started_at, broadcaster {id, login, name}} and
`stream.offline` {broadcaster {id, login, name}}. No scopes needed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from workers.base import BaseWorker
from workers.models import StreamOffline, StreamOnline


class Channel(BaseModel):
    id: str
    login: str
    name: str


class StreamWentOnline(BaseModel):
    stream_id: str
    type: str
    started_at: str
    broadcaster: Channel


class StreamWentOffline(BaseModel):
    broadcaster: Channel


class StreamStatusWorker(BaseWorker):
    required_scopes = []  # stream.online and stream.offline need no authorization
    emits = {"stream.online": StreamWentOnline, "stream.offline": StreamWentOffline}

    def get_subscriptions(self, broadcaster_id: str, moderator_id: str) -> list[dict[str, Any]]:
        condition = {"broadcaster_user_id": broadcaster_id}
        return [
            {"type": "stream.online", "version": "1", "condition": condition},
            {"type": "stream.offline", "version": "1", "condition": condition},
        ]

    async def handle(self, event_type: str, payload: dict[str, Any]) -> None:
        event = self.parse(payload)
        if not isinstance(event, StreamOnline | StreamOffline):
            return
        channel = Channel(
            id=event.broadcaster_user_id,
            login=event.broadcaster_user_login,
            name=event.broadcaster_user_name,
        )
        if isinstance(event, StreamOnline):
            await self.emit(
                "stream.online",
                StreamWentOnline(
                    stream_id=event.id,
                    type=event.type,
                    started_at=event.started_at,
                    broadcaster=channel,
                ),
            )
        else:
            await self.emit("stream.offline", StreamWentOffline(broadcaster=channel))
