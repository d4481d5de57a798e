"""Chat events: message fragments (text, emote, mention), chat messages, notices, deletions."""

from __future__ import annotations

import re
import uuid
from typing import Any

from simulator import events_data as data
from simulator.event_context import (
    KNOWN_PEOPLE,
    EventContext,
    other_channel,
    rng,
    user_fields,
)

# -- text with emotes ----------------------------------------------------------------------


def emote_ranges(text: str) -> list[dict[str, Any]]:
    """Twitch's `emotes[{begin, end, id}]`, with `end` inclusive."""
    ranges, position = [], 0
    for word in text.split(" "):
        if word in data.EMOTES:
            ranges.append(
                {"begin": position, "end": position + len(word) - 1, "id": data.EMOTES[word][0]}
            )
        position += len(word) + 1
    return ranges


def fragments_of(text: str, cheer: bool = False) -> list[dict[str, Any]]:
    """Chat fragments: emote names become emote fragments, `@login` a mention, the rest text.

    In a cheer (`cheer=True`) cheermotes (`Cheer100`) become cheermote fragments too. The
    fragments' texts concatenate back to the message text, as on Twitch.
    """
    fragments: list[dict[str, Any]] = []
    buffer = ""
    for index, word in enumerate(text.split(" ")):
        buffer += " " if index else ""
        special = (
            (_cheermote_fragment(word) if cheer else None)
            or _emote_fragment(word)
            or _mention_fragment(word)
        )
        if special is None:
            buffer += word
            continue
        if buffer:
            fragments.append(_fragment("text", buffer))
            buffer = ""
        fragments.append(special)
    if buffer:
        fragments.append(_fragment("text", buffer))
    return fragments


def chat_fragments(text: str) -> list[dict[str, Any]]:
    """The `message.fragments` Twitch would build for a chat message with this text."""
    return fragments_of(text)


_CHEERMOTE = re.compile(
    r"^(" + "|".join(re.escape(p) for p in data.CHEERMOTE_PREFIXES) + r")([1-9][0-9]*)$",
    re.IGNORECASE,
)


def cheermote(word: str) -> tuple[str, int] | None:
    """`("cheer", 100)` for the word `Cheer100`; None for a word that is no cheermote."""
    match = _CHEERMOTE.match(word)
    return (match.group(1).lower(), int(match.group(2))) if match else None


def cheered_bits(text: str) -> int:
    """The bits the cheermotes in `text` add up to (Twitch's `bits` of that cheer)."""
    return sum(found[1] for found in map(cheermote, text.split(" ")) if found is not None)


def cheermote_tier(bits: int) -> int:
    """The tier of a cheermote of `bits`: the least bits of the tier it falls in."""
    return max(t for t in data.CHEERMOTE_TIERS if t <= max(bits, 1))


def cheer_amounts(bits: int) -> list[int]:
    """How a cheerer writes `bits`: one cheermote, or two that add up to it."""
    if bits >= 2 and rng.random() < 0.3:
        first = bits // 2
        return [first, bits - first]
    return [bits]


def cheer_text(bits: int, line: str | None = None) -> str:
    """A cheer message whose cheermotes add up to `bits`, e.g. `Cheer250 Cheer250 double hype`."""
    line = rng.choice(data.CHEER_LINES) if line is None else line
    prefix = rng.choice(data.CHEERMOTE_PREFIXES)
    motes = " ".join(f"{prefix}{amount}" for amount in cheer_amounts(bits) if amount > 0)
    return " ".join(part for part in (motes, line) if part)


def _cheermote_fragment(word: str) -> dict[str, Any] | None:
    found = cheermote(word)
    if found is None:
        return None
    prefix, bits = found
    fragment = _fragment("cheermote", word)
    fragment["cheermote"] = {"prefix": prefix, "bits": bits, "tier": cheermote_tier(bits)}
    return fragment


def _emote_fragment(word: str) -> dict[str, Any] | None:
    if word not in data.EMOTES:
        return None
    emote_id, set_id, owner_id = data.EMOTES[word]
    fragment = _fragment("emote", word)
    fragment["emote"] = {
        "id": emote_id,
        "emote_set_id": set_id,
        "owner_id": owner_id,
        "format": ["static", "animated"] if emote_id.startswith("emotesv2_") else ["static"],
    }
    return fragment


def _mention_fragment(word: str) -> dict[str, Any] | None:
    login = word[1:].lower() if word.startswith("@") else ""
    person = next((v for v in KNOWN_PEOPLE.values() if v[1] == login), None)
    if person is None:
        return None
    fragment = _fragment("mention", word)
    fragment["mention"] = {"user_id": person[0], "user_name": person[2], "user_login": person[1]}
    return fragment


def _fragment(kind: str, text: str) -> dict[str, Any]:
    return {"type": kind, "text": text, "cheermote": None, "emote": None, "mention": None}


def text_fragment(text: str) -> dict[str, Any]:
    """One plain text fragment: the whole of a message that has no emote, mention or cheer."""
    return _fragment("text", text)


def badges() -> list[dict[str, str]]:
    picked = rng.sample(data.BADGES, k=rng.randint(0, 2))
    return [{"set_id": s, "id": i, "info": info} for s, i, info in picked]


def _source_fields() -> dict[str, Any]:
    return {
        **user_fields("source_broadcaster_", None),
        "source_message_id": None,
        "source_badges": None,
    }


def chat_message(ctx: EventContext) -> dict[str, Any]:
    text = rng.choice(data.CHAT_LINES)
    return {
        **ctx.base,
        "chatter_user_id": ctx.viewer[0],
        "chatter_user_login": ctx.viewer[1],
        "chatter_user_name": ctx.viewer[2],
        "message_id": str(uuid.uuid4()),
        "message": {"text": text, "fragments": fragments_of(text)},
        "message_type": "text",
        "badges": badges(),
        "cheer": None,
        "color": rng.choice(data.CHAT_COLORS),
        "reply": None,
        "channel_points_custom_reward_id": None,
        **_source_fields(),
        "is_source_only": None,
    }


_NOTICE_OBJECTS = (
    "sub",
    "resub",
    "sub_gift",
    "community_sub_gift",
    "gift_paid_upgrade",
    "prime_paid_upgrade",
    "pay_it_forward",
    "raid",
    "unraid",
    "announcement",
    "bits_badge_tier",
    "charity_donation",
    "shared_chat_sub",
    "shared_chat_resub",
    "shared_chat_sub_gift",
    "shared_chat_community_sub_gift",
    "shared_chat_gift_paid_upgrade",
    "shared_chat_prime_paid_upgrade",
    "shared_chat_pay_it_forward",
    "shared_chat_raid",
    "shared_chat_announcement",
)


def _notice_detail(notice_type: str, ctx: EventContext) -> tuple[dict[str, Any], str]:
    tier = rng.choice(data.SUB_TIERS)
    name = ctx.viewer[2]
    if notice_type == "sub":
        return {
            "sub_tier": tier,
            "is_prime": tier == "1000" and rng.random() < 0.3,
            "duration_months": 1,
        }, f"{name} subscribed at Tier {tier[0]}."
    if notice_type == "resub":
        months = rng.randint(2, 40)
        return {
            "cumulative_months": months,
            "duration_months": 1,
            "streak_months": rng.randint(1, months),
            "sub_tier": tier,
            "is_prime": False,
            "is_gift": False,
            "gifter_is_anonymous": None,
            "gifter_user_id": None,
            "gifter_user_name": None,
            "gifter_user_login": None,
        }, f"{name} subscribed at Tier {tier[0]}. They've subscribed for {months} months!"
    if notice_type == "sub_gift":
        recipient = rng.choice([v for v in data.VIEWERS if v != ctx.viewer])
        return {
            "duration_months": 1,
            "cumulative_total": rng.randint(1, 80),
            "recipient_user_id": recipient[0],
            "recipient_user_name": recipient[2],
            "recipient_user_login": recipient[1],
            "sub_tier": tier,
            "community_gift_id": None,
        }, f"{name} gifted a Tier {tier[0]} sub to {recipient[2]}!"
    if notice_type == "raid":
        raider = other_channel()
        viewers = rng.randint(5, 400)
        return {
            "user_id": raider[0],
            "user_name": raider[2],
            "user_login": raider[1],
            "viewer_count": viewers,
            "profile_image_url": f"https://static-cdn.jtvnw.net/jtv_user_pictures/{raider[1]}-profile_image-70x70.png",
        }, f"{viewers} raiders from {raider[2]} have joined!"
    if notice_type == "announcement":
        return {"color": rng.choice(("PRIMARY", "BLUE", "GREEN", "ORANGE", "PURPLE"))}, ""
    return {}, ""


def chat_notification(ctx: EventContext) -> dict[str, Any]:
    notice_type = ctx.chose(
        "notice_type", rng.choice(("sub", "resub", "sub_gift", "raid", "announcement"))
    )
    detail, system_message = _notice_detail(notice_type, ctx)
    text = rng.choice(data.RESUB_LINES) if notice_type in ("resub", "announcement") else ""
    chatter = ctx.viewer
    if notice_type == "raid":
        chatter = (detail["user_id"], detail["user_login"], detail["user_name"])
    event: dict[str, Any] = {
        **ctx.base,
        "chatter_user_id": chatter[0],
        "chatter_user_login": chatter[1],
        "chatter_user_name": chatter[2],
        "chatter_is_anonymous": False,
        "color": rng.choice(data.CHAT_COLORS),
        "badges": badges(),
        "system_message": system_message,
        "message_id": str(uuid.uuid4()),
        "message": {"text": text, "fragments": fragments_of(text) if text else []},
        "notice_type": notice_type,
    }
    event.update({name: None for name in _NOTICE_OBJECTS})
    event[notice_type] = detail
    event.update(_source_fields())
    return event


def chat_delete(ctx: EventContext) -> dict[str, Any]:
    return {
        **ctx.base,
        "target_user_id": ctx.viewer[0],
        "target_user_name": ctx.viewer[2],
        "target_user_login": ctx.viewer[1],
        "message_id": str(uuid.uuid4()),
    }
