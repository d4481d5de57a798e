"""Every shipped worker, driven by simulated events, emits its overlay-ready envelope."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.events import SUPPORTED_TYPES, generate_event
from tests.workers.testkit import append_event, captured_events, eventually, running_workers
from workers.alerts import AlertsWorker
from workers.chat import ChatWorker, emote_url
from workers.hype_train import HypeTrainWorker
from workers.models import EVENT_MODELS, UnknownEvent, parse_event
from workers.redemptions import RedemptionsWorker
from workers.stream_status import StreamStatusWorker

BROADCASTER = "1000001"
CONDITION = {
    "broadcaster_user_id": BROADCASTER,
    "moderator_user_id": BROADCASTER,
    "user_id": BROADCASTER,
}
SHIPPED = [AlertsWorker, ChatWorker, HypeTrainWorker, RedemptionsWorker, StreamStatusWorker]


def simulated(event_type: str, **overrides: Any) -> dict[str, Any]:
    """A realistic event from the simulator, for our broadcaster, with `overrides` applied."""
    condition = CONDITION
    if event_type == "channel.raid":
        condition = {"to_broadcaster_user_id": BROADCASTER}
    return generate_event(event_type, condition=condition, overrides=overrides or None)


async def drive(bus: Any, store: Any, event_type: str, event: dict[str, Any]) -> dict[str, Any]:
    """Run every shipped worker on one simulated event; return the one envelope emitted."""
    async with captured_events(bus) as events, running_workers(bus, store, SHIPPED):
        await append_event(bus, event_type, event, version=SUPPORTED_TYPES[event_type])
        await eventually(lambda: len(events) >= 1, what=f"the envelope for {event_type}")
    [envelope] = events
    assert set(envelope) == {"event", "data", "id", "ts"}
    return envelope


async def test_follow_becomes_alert_follow(memory_bus, sqlite_store):
    event = simulated("channel.follow")
    envelope = await drive(memory_bus, sqlite_store, "channel.follow", event)
    assert envelope["event"] == "alert.follow"
    assert envelope["data"] == {
        "user": {"id": event["user_id"], "login": event["user_login"], "name": event["user_name"]},
        "followed_at": event["followed_at"],
    }


async def test_sub_becomes_alert_sub(memory_bus, sqlite_store):
    event = simulated("channel.subscribe", tier="2000", is_gift=False)
    envelope = await drive(memory_bus, sqlite_store, "channel.subscribe", event)
    assert envelope["event"] == "alert.sub"
    assert envelope["data"]["tier"] == "2000"
    assert envelope["data"]["is_gift"] is False
    assert envelope["data"]["user"]["name"] == event["user_name"]


async def test_resub_message_becomes_alert_resub(memory_bus, sqlite_store):
    event = simulated("channel.subscription.message", cumulative_months=14)
    envelope = await drive(memory_bus, sqlite_store, "channel.subscription.message", event)
    assert envelope["event"] == "alert.resub"
    assert envelope["data"]["months"] == 14
    assert envelope["data"]["message"] == event["message"]["text"]


async def test_anonymous_gift_becomes_alert_gift_without_a_user(memory_bus, sqlite_store):
    event = simulated(
        "channel.subscription.gift",
        is_anonymous=True,
        user_id=None,
        user_login=None,
        user_name=None,
        cumulative_total=None,
        total=5,
    )
    envelope = await drive(memory_bus, sqlite_store, "channel.subscription.gift", event)
    assert envelope["event"] == "alert.gift"
    assert envelope["data"]["user"] is None
    assert envelope["data"]["anonymous"] is True
    assert envelope["data"]["count"] == 5


async def test_cheer_becomes_alert_cheer(memory_bus, sqlite_store):
    event = simulated("channel.cheer", bits=500, is_anonymous=False)
    envelope = await drive(memory_bus, sqlite_store, "channel.cheer", event)
    assert envelope["event"] == "alert.cheer"
    assert envelope["data"]["bits"] == 500
    assert envelope["data"]["user"]["login"] == event["user_login"]


async def test_incoming_raid_becomes_alert_raid(memory_bus, sqlite_store):
    event = simulated("channel.raid", viewers=321)
    envelope = await drive(memory_bus, sqlite_store, "channel.raid", event)
    assert envelope["event"] == "alert.raid"
    assert envelope["data"] == {
        "user": {
            "id": event["from_broadcaster_user_id"],
            "login": event["from_broadcaster_user_login"],
            "name": event["from_broadcaster_user_name"],
        },
        "viewers": 321,
    }


async def test_chat_message_carries_fragments_and_emote_urls(memory_bus, sqlite_store):
    event = simulated("channel.chat.message")
    emote = {"id": "emotesv2_abc", "emote_set_id": "1", "owner_id": "2", "format": ["static"]}
    event["message"] = {
        "text": "hi Kappa @ada",
        "fragments": [
            {"type": "text", "text": "hi ", "cheermote": None, "emote": None, "mention": None},
            {"type": "emote", "text": "Kappa", "cheermote": None, "emote": emote, "mention": None},
            {
                "type": "mention",
                "text": "@ada",
                "cheermote": None,
                "emote": None,
                "mention": {"user_id": "9", "user_name": "Ada", "user_login": "ada"},
            },
        ],
    }
    envelope = await drive(memory_bus, sqlite_store, "channel.chat.message", event)
    assert envelope["event"] == "chat.message"
    data = envelope["data"]
    assert data["id"] == event["message_id"]
    assert data["text"] == "hi Kappa @ada"
    assert data["user"]["name"] == event["chatter_user_name"]
    url = "https://static-cdn.jtvnw.net/emoticons/v2/emotesv2_abc/default/dark/1.0"
    assert data["fragments"][1]["emote"] == {"id": "emotesv2_abc", "url": url}
    assert data["fragments"][2]["mention"] == {"id": "9", "login": "ada", "name": "Ada"}
    assert data["emotes"] == [{"id": "emotesv2_abc", "url": url, "name": "Kappa"}]
    assert emote_url("25") == "https://static-cdn.jtvnw.net/emoticons/v2/25/default/dark/1.0"


async def test_redemption_becomes_redemption_event(memory_bus, sqlite_store):
    event_type = "channel.channel_points_custom_reward_redemption.add"
    event = simulated(event_type, user_input="play lofi")
    envelope = await drive(memory_bus, sqlite_store, event_type, event)
    assert envelope["event"] == "redemption"
    assert envelope["data"]["input"] == "play lofi"
    assert envelope["data"]["reward"]["title"] == event["reward"]["title"]
    assert envelope["data"]["status"] == "unfulfilled"


@pytest.mark.parametrize("event_type", ["stream.online", "stream.offline"])
async def test_stream_status_changes_are_emitted(memory_bus, sqlite_store, event_type):
    event = simulated(event_type)
    envelope = await drive(memory_bus, sqlite_store, event_type, event)
    assert envelope["event"] == event_type
    assert envelope["data"]["broadcaster"]["id"] == BROADCASTER


@pytest.mark.parametrize("phase", ["begin", "progress", "end"])
async def test_hype_train_phases_are_emitted(memory_bus, sqlite_store, phase):
    event_type = f"channel.hype_train.{phase}"
    event = simulated(event_type)
    envelope = await drive(memory_bus, sqlite_store, event_type, event)
    assert envelope["event"] == f"hype_train.{phase}"
    assert envelope["data"]["level"] == event["level"]
    assert len(envelope["data"]["top_contributions"]) == len(event["top_contributions"])


@pytest.mark.parametrize("event_type", sorted(SUPPORTED_TYPES))
def test_every_simulated_event_parses_into_its_typed_model(event_type):
    model = parse_event(event_type, simulated(event_type))
    expected = EVENT_MODELS.get(event_type, UnknownEvent)
    assert type(model) is expected
