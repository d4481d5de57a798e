"""The bases every event model shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class EventModel(BaseModel):
    """Base of every event model: unknown fields are kept, not rejected."""

    model_config = ConfigDict(extra="allow")


class BroadcasterRef(EventModel):
    broadcaster_user_id: str
    broadcaster_user_login: str
    broadcaster_user_name: str


class UserRef(EventModel):
    """A user as the nested objects of hype trains and predictions carry it."""

    user_id: str
    user_login: str
    user_name: str
