"""Channel events: follows, subs, cheers, bits, raids, redemptions, stream, ads, moderation."""

from __future__ import annotations

import uuid
from typing import Any

from simulator import events_data as data
from simulator.event_context import (
    EventContext,
    other_channel,
    rng,
    timestamp_in,
    user_fields,
)
from simulator.events_chat import cheer_text, cheered_bits, emote_ranges, fragments_of

# -- generators, one per type family -------------------------------------------------------


def follow(ctx: EventContext) -> dict[str, Any]:
    return {**user_fields("", ctx.viewer), **ctx.base, "followed_at": timestamp_in()}


def subscribe(ctx: EventContext) -> dict[str, Any]:
    return {
        **user_fields("", ctx.viewer),
        **ctx.base,
        "tier": rng.choice(data.SUB_TIERS),
        "is_gift": rng.random() < 0.3,
    }


def gift(ctx: EventContext) -> dict[str, Any]:
    anonymous = bool(ctx.chose("is_anonymous", rng.random() < 0.2))
    return {
        **user_fields("", None if anonymous else ctx.viewer),
        **ctx.base,
        "total": rng.choice((1, 1, 5, 10, 20)),
        "tier": rng.choice(data.SUB_TIERS),
        "cumulative_total": None if anonymous else rng.randint(1, 300),
        "is_anonymous": anonymous,
    }


def resub(ctx: EventContext) -> dict[str, Any]:
    text = rng.choice(data.RESUB_LINES)
    cumulative = rng.randint(2, 48)
    return {
        **user_fields("", ctx.viewer),
        **ctx.base,
        "tier": rng.choice(data.SUB_TIERS),
        "message": {"text": text, "emotes": emote_ranges(text)},
        "cumulative_months": cumulative,
        "streak_months": rng.choice((None, rng.randint(1, cumulative))),
        "duration_months": rng.choice((1, 1, 3, 6)),
    }


def sub_end(ctx: EventContext) -> dict[str, Any]:
    return {
        **user_fields("", ctx.viewer),
        **ctx.base,
        "tier": rng.choice(data.SUB_TIERS),
        "is_gift": rng.random() < 0.3,
    }


def _cheer_bits_and_text(ctx: EventContext, given_text: Any) -> tuple[int, str]:
    """Bits and a message whose cheermotes add up to them, as on Twitch. A given message
    (override) decides the bits unless they are given too; given bits shape the message."""
    bits = ctx.chose("bits", None)
    if isinstance(given_text, str):
        if not isinstance(bits, int):
            bits = cheered_bits(given_text) or rng.choice(data.CHEER_BITS)
        return bits, given_text
    if not isinstance(bits, int) or bits < 1:
        bits = rng.choice(data.CHEER_BITS)
    return bits, cheer_text(bits)


def cheer(ctx: EventContext) -> dict[str, Any]:
    anonymous = bool(ctx.chose("is_anonymous", rng.random() < 0.15))
    bits, text = _cheer_bits_and_text(ctx, ctx.overrides.get("message"))
    return {
        "is_anonymous": anonymous,
        **user_fields("", None if anonymous else ctx.viewer),
        **ctx.base,
        "message": text,
        "bits": bits,
    }


def bits_use(ctx: EventContext) -> dict[str, Any]:
    kind = ctx.chose("type", rng.choice(("cheer", "cheer", "power_up")))
    given = ctx.overrides.get("message")
    given_text = given.get("text") if isinstance(given, dict) else None
    if kind == "cheer":
        bits, text = _cheer_bits_and_text(ctx, given_text)
    else:  # a Power-up is paid in bits, and its message carries no cheermote
        bits = ctx.chose("bits", rng.choice((50, 100, 300, 500)))
        text = given_text if isinstance(given_text, str) else rng.choice(data.CHEER_LINES)
    power_up = None
    if kind == "power_up":
        emote_name = rng.choice(list(data.EMOTES))
        power_up = {
            "type": rng.choice(("message_effect", "celebration", "gigantify_an_emote")),
            "emote": {"id": data.EMOTES[emote_name][0], "name": emote_name},
            "message_effect_id": rng.choice(("cosmic-abyss", "rainbow-eclipse", None)),
        }
    return {
        **ctx.base,
        **user_fields("", ctx.viewer),
        "bits": bits,
        "type": kind,
        "message": {"text": text, "fragments": fragments_of(text, cheer=kind == "cheer")},
        "power_up": power_up,
    }


def raid(ctx: EventContext) -> dict[str, Any]:
    to_id = ctx.condition.get("to_broadcaster_user_id")
    from_id = ctx.condition.get("from_broadcaster_user_id")
    target = ctx.person(to_id) if to_id else other_channel(from_id)
    source = ctx.person(from_id) if from_id else other_channel(to_id)
    return {
        **user_fields("from_broadcaster_", source),
        **user_fields("to_broadcaster_", target),
        "viewers": rng.choice((3, 12, 48, 150, 1200)),
    }


def redemption(ctx: EventContext) -> dict[str, Any]:
    reward_id, title, cost, prompt, needs_input = rng.choice(data.REWARDS)
    reward_id = ctx.condition.get("reward_id") or reward_id
    return {
        "id": str(uuid.uuid4()),
        **ctx.base,
        **user_fields("", ctx.viewer),
        "user_input": rng.choice(data.REWARD_INPUTS) if needs_input else "",
        "status": "unfulfilled",
        "reward": {"id": reward_id, "title": title, "cost": cost, "prompt": prompt},
        "redeemed_at": timestamp_in(),
    }


def redemption_update(ctx: EventContext) -> dict[str, Any]:
    return {**redemption(ctx), "status": rng.choice(("fulfilled", "canceled"))}


def online(ctx: EventContext) -> dict[str, Any]:
    return {
        "id": str(rng.randint(40_000_000_000, 49_999_999_999)),
        **ctx.base,
        "type": "live",
        "started_at": timestamp_in(-2),
    }


def offline(ctx: EventContext) -> dict[str, Any]:
    return ctx.base


def ad_break(ctx: EventContext) -> dict[str, Any]:
    automatic = rng.random() < 0.5
    requester = ctx.broadcaster
    return {
        "duration_seconds": rng.choice((30, 60, 90, 180)),
        "started_at": timestamp_in(),
        "is_automatic": automatic,
        **ctx.base,
        "requester_user_id": requester[0],
        "requester_user_login": requester[1],
        "requester_user_name": requester[2],
    }


def update(ctx: EventContext) -> dict[str, Any]:
    category_id, category_name = rng.choice(data.CATEGORIES)
    return {
        **ctx.base,
        "title": rng.choice(data.STREAM_TITLES),
        "language": rng.choice(data.LANGUAGES),
        "category_id": category_id,
        "category_name": category_name,
        "content_classification_labels": rng.choice(([], [], ["ProfanityVulgarity"])),
    }


def ban(ctx: EventContext) -> dict[str, Any]:
    permanent = bool(ctx.chose("is_permanent", rng.random() < 0.4))
    return {
        **user_fields("", ctx.viewer),
        **ctx.base,
        **user_fields("moderator_", ctx.moderator),
        "reason": rng.choice(data.BAN_REASONS),
        "banned_at": timestamp_in(),
        "ends_at": None if permanent else timestamp_in(rng.choice((60, 600, 86400))),
        "is_permanent": permanent,
    }


def unban(ctx: EventContext) -> dict[str, Any]:
    return {**user_fields("", ctx.viewer), **ctx.base, **user_fields("moderator_", ctx.moderator)}


def shoutout_create(ctx: EventContext) -> dict[str, Any]:
    return {
        **ctx.base,
        **user_fields("to_broadcaster_", other_channel(ctx.broadcaster[0])),
        **user_fields("moderator_", ctx.moderator),
        "viewer_count": rng.randint(3, 500),
        "started_at": timestamp_in(),
        "cooldown_ends_at": timestamp_in(120),
        "target_cooldown_ends_at": timestamp_in(3600),
    }


def shoutout_receive(ctx: EventContext) -> dict[str, Any]:
    return {
        **ctx.base,
        **user_fields("from_broadcaster_", other_channel(ctx.broadcaster[0])),
        "viewer_count": rng.randint(3, 500),
        "started_at": timestamp_in(),
    }


def user_and_channel(ctx: EventContext) -> dict[str, Any]:
    return {**ctx.base, **user_fields("", ctx.viewer)}
