"""Every supported EventSub type carries the key event fields Twitch documents for it.

The fields come from https://dev.twitch.tv/docs/eventsub/eventsub-reference/ and the versions
from https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/ .
"""

from __future__ import annotations

import pytest

from simulator.events import SUPPORTED_TYPES, generate_event
from tests.simulator.helpers import eventsub, helix, subscribe

B = {"broadcaster_user_id", "broadcaster_user_login", "broadcaster_user_name"}
U = {"user_id", "user_login", "user_name"}
CHATTER = {"chatter_user_id", "chatter_user_login", "chatter_user_name"}
HYPE = {
    "id",
    "total",
    "progress",
    "goal",
    "top_contributions",
    "level",
    "shared_train_participants",
    "started_at",
    "expires_at",
    "type",
    "is_shared_train",
} | B
POLL = {"id", "title", "choices", "bits_voting", "channel_points_voting", "started_at"} | B
PREDICTION = {"id", "title", "outcomes", "started_at"} | B
GOAL = {"id", "type", "description", "current_amount", "target_amount", "started_at"} | B

#: The key `event` fields of each type, per Twitch's EventSub reference (version in
#: SUPPORTED_TYPES).
EXPECTED: dict[str, set[str]] = {
    "channel.follow": U | B | {"followed_at"},
    "channel.subscribe": U | B | {"tier", "is_gift"},
    "channel.subscription.gift": U | B | {"total", "tier", "cumulative_total", "is_anonymous"},
    "channel.subscription.message": U
    | B
    | {"tier", "message", "cumulative_months", "streak_months", "duration_months"},
    "channel.subscription.end": U | B | {"tier", "is_gift"},
    "channel.cheer": U | B | {"is_anonymous", "message", "bits"},
    "channel.bits.use": U | B | {"bits", "type", "message", "power_up"},
    "channel.raid": {
        f"{side}_broadcaster_user_{f}" for side in ("from", "to") for f in ("id", "login", "name")
    }
    | {"viewers"},
    "channel.channel_points_custom_reward_redemption.add": U
    | B
    | {"id", "user_input", "status", "reward", "redeemed_at"},
    "channel.channel_points_custom_reward_redemption.update": U
    | B
    | {"id", "user_input", "status", "reward", "redeemed_at"},
    "channel.chat.message": B
    | CHATTER
    | {
        "message_id",
        "message",
        "message_type",
        "badges",
        "cheer",
        "color",
        "reply",
        "channel_points_custom_reward_id",
        "source_broadcaster_user_id",
        "source_broadcaster_user_login",
        "source_broadcaster_user_name",
        "source_message_id",
        "source_badges",
        "is_source_only",
    },
    "channel.chat.notification": B
    | CHATTER
    | {
        "chatter_is_anonymous",
        "color",
        "badges",
        "system_message",
        "message_id",
        "message",
        "notice_type",
        "sub",
        "resub",
        "sub_gift",
        "community_sub_gift",
        "raid",
        "announcement",
    },
    "channel.chat.message_delete": B
    | {"target_user_id", "target_user_name", "target_user_login", "message_id"},
    "channel.hype_train.begin": HYPE | {"all_time_high_level", "all_time_high_total"},
    "channel.hype_train.progress": HYPE,
    "channel.hype_train.end": B
    | {
        "id",
        "total",
        "top_contributions",
        "level",
        "shared_train_participants",
        "started_at",
        "cooldown_ends_at",
        "ended_at",
        "type",
        "is_shared_train",
    },
    "channel.poll.begin": POLL | {"ends_at"},
    "channel.poll.progress": POLL | {"ends_at"},
    "channel.poll.end": POLL | {"status", "ended_at"},
    "channel.prediction.begin": PREDICTION | {"locks_at"},
    "channel.prediction.progress": PREDICTION | {"locks_at"},
    "channel.prediction.lock": PREDICTION | {"locked_at"},
    "channel.prediction.end": PREDICTION | {"winning_outcome_id", "status", "ended_at"},
    "stream.online": B | {"id", "type", "started_at"},
    "stream.offline": B,
    "channel.ad_break.begin": B
    | {
        "duration_seconds",
        "started_at",
        "is_automatic",
        "requester_user_id",
        "requester_user_login",
        "requester_user_name",
    },
    "channel.update": B
    | {"title", "language", "category_id", "category_name", "content_classification_labels"},
    "channel.ban": U
    | B
    | {
        "moderator_user_id",
        "moderator_user_login",
        "moderator_user_name",
        "reason",
        "banned_at",
        "ends_at",
        "is_permanent",
    },
    "channel.shoutout.create": B
    | {
        "to_broadcaster_user_id",
        "to_broadcaster_user_login",
        "to_broadcaster_user_name",
        "moderator_user_id",
        "moderator_user_login",
        "moderator_user_name",
        "viewer_count",
        "started_at",
        "cooldown_ends_at",
        "target_cooldown_ends_at",
    },
    "channel.shoutout.receive": B
    | {
        "from_broadcaster_user_id",
        "from_broadcaster_user_login",
        "from_broadcaster_user_name",
        "viewer_count",
        "started_at",
    },
    "channel.goal.begin": GOAL,
    "channel.goal.progress": GOAL,
    "channel.goal.end": GOAL | {"is_achieved", "ended_at"},
}
VERSIONS = {
    "channel.follow": "2",
    "channel.update": "2",
    "channel.hype_train.begin": "2",
    "channel.hype_train.progress": "2",
    "channel.hype_train.end": "2",
}


@pytest.mark.parametrize("sub_type", sorted(EXPECTED))
def test_generated_event_carries_the_fields_twitch_documents(sub_type):
    assert SUPPORTED_TYPES[sub_type] == VERSIONS.get(sub_type, "1")
    for _ in range(10):  # values are random; every draw must have every field
        event = generate_event(sub_type)
        missing = EXPECTED[sub_type] - set(event)
        assert not missing, f"{sub_type} lacks {sorted(missing)}"


def test_nested_shapes_match_twitchs_documented_shapes():
    resub = generate_event(
        "channel.subscription.message", overrides={"message": {"text": "hi Kappa"}}
    )
    assert set(resub["message"]) == {"text", "emotes"}
    chat = generate_event("channel.chat.message")
    for fragment in chat["message"]["fragments"]:
        assert set(fragment) == {"type", "text", "cheermote", "emote", "mention"}
    assert "".join(f["text"] for f in chat["message"]["fragments"]) == chat["message"]["text"]
    notice = generate_event("channel.chat.notification", overrides={"notice_type": "resub"})
    assert {
        "cumulative_months",
        "duration_months",
        "streak_months",
        "sub_tier",
        "is_prime",
        "is_gift",
    } <= set(notice["resub"])
    assert notice["sub"] is None and notice["raid"] is None
    redemption = generate_event("channel.channel_points_custom_reward_redemption.add")
    assert (
        set(redemption["reward"]) == {"id", "title", "cost", "prompt"}
        and redemption["status"] == "unfulfilled"
    )
    assert generate_event("channel.subscribe")["tier"] in {"1000", "2000", "3000"}
    anonymous = generate_event("channel.cheer", overrides={"is_anonymous": True})
    assert anonymous["user_id"] is None and anonymous["user_login"] is None
    goal = generate_event("channel.goal.begin")
    assert goal["type"] in {
        "follow",
        "subscription",
        "subscription_count",
        "new_subscription",
        "new_subscription_count",
        "new_bit",
        "new_cheerer",
    }


def test_values_are_varied():
    names = {generate_event("channel.follow")["user_login"] for _ in range(40)}
    assert len(names) > 5


async def test_a_triggered_hype_train_v2_arrives_with_version_2(simulator):
    me = simulator.users["broadcaster"].id
    token = (await simulator.issue_token())["access_token"]
    async with helix(simulator, token) as api, eventsub(simulator.ws_url) as client:
        session_id = await client.welcome()
        response = await subscribe(
            api, session_id, "channel.hype_train.begin", {"broadcaster_user_id": me}, "2"
        )
        assert response.status_code == 202
        await simulator.trigger("channel.hype_train.begin")
        message = await client.next_of("notification")
    assert message["metadata"]["subscription_version"] == "2"
    assert EXPECTED["channel.hype_train.begin"] <= set(message["payload"]["event"])
