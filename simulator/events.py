"""Realistic `event` objects for every supported EventSub type.

The fields of each type's `event` follow Twitch's EventSub reference:
https://dev.twitch.tv/docs/eventsub/eventsub-reference/

`generate_event(type, version, condition, overrides)` builds the event for one subscription:
the users named in the condition appear in the event, other values are drawn at random from
`events_data`, and `overrides` (nested dicts merge) win over everything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from simulator import events_channel as channel
from simulator import events_chat as chat
from simulator import events_engagement as engagement
from simulator.catalogue import CURRENT_VERSIONS, lookup
from simulator.errors import SimulatorError
from simulator.event_context import ROLE_USERS, EventContext
from simulator.events_chat import fragments_of

__all__ = [
    "SUPPORTED_TYPES",
    "apply_field_strings",
    "chat_fragments",
    "default_condition",
    "generate_event",
]

#: Subscription type -> current version, as listed in
#: https://dev.twitch.tv/docs/eventsub/eventsub-subscription-types/
SUPPORTED_TYPES: dict[str, str] = dict(CURRENT_VERSIONS)


_GENERATORS: dict[str, Callable[[EventContext], dict[str, Any]]] = {
    "channel.follow": channel.follow,
    "channel.subscribe": channel.subscribe,
    "channel.subscription.gift": channel.gift,
    "channel.subscription.message": channel.resub,
    "channel.subscription.end": channel.sub_end,
    "channel.cheer": channel.cheer,
    "channel.bits.use": channel.bits_use,
    "channel.raid": channel.raid,
    "channel.channel_points_custom_reward_redemption.add": channel.redemption,
    "channel.channel_points_custom_reward_redemption.update": channel.redemption_update,
    "channel.chat.message": chat.chat_message,
    "channel.chat.notification": chat.chat_notification,
    "channel.chat.message_delete": chat.chat_delete,
    "channel.hype_train.begin": engagement.hype_begin,
    "channel.hype_train.progress": engagement.hype_progress,
    "channel.hype_train.end": engagement.hype_end,
    "channel.poll.begin": engagement.poll("begin"),
    "channel.poll.progress": engagement.poll("progress"),
    "channel.poll.end": engagement.poll("end"),
    "channel.prediction.begin": engagement.prediction("begin"),
    "channel.prediction.progress": engagement.prediction("progress"),
    "channel.prediction.lock": engagement.prediction("lock"),
    "channel.prediction.end": engagement.prediction("end"),
    "stream.online": channel.online,
    "stream.offline": channel.offline,
    "channel.ad_break.begin": channel.ad_break,
    "channel.update": channel.update,
    "channel.ban": channel.ban,
    "channel.unban": channel.unban,
    "channel.shoutout.create": channel.shoutout_create,
    "channel.shoutout.receive": channel.shoutout_receive,
    "channel.goal.begin": engagement.goal("begin"),
    "channel.goal.progress": engagement.goal("progress"),
    "channel.goal.end": engagement.goal("end"),
    "channel.moderator.add": channel.user_and_channel,
    "channel.moderator.remove": channel.user_and_channel,
    "channel.vip.add": channel.user_and_channel,
    "channel.vip.remove": channel.user_and_channel,
}


def chat_fragments(text: str) -> list[dict[str, Any]]:
    """The `message.fragments` Twitch would build for a chat message with this text."""
    return fragments_of(text)


def default_condition(sub_type: str) -> dict[str, str]:
    """A valid condition for the simulated broadcaster's channel (used when none is given)."""
    broadcaster = ROLE_USERS["broadcaster"].id
    rules = lookup(sub_type, SUPPORTED_TYPES.get(sub_type, ""))
    if rules is None:
        return {"broadcaster_user_id": broadcaster}
    if rules.exactly_one_of:
        return {"to_broadcaster_user_id": broadcaster}
    condition = {"broadcaster_user_id": broadcaster}
    if "moderator_user_id" in rules.required:
        condition["moderator_user_id"] = broadcaster
    if "user_id" in rules.required:
        condition["user_id"] = broadcaster
    return condition


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def generate_event(
    sub_type: str,
    version: str | None = None,
    condition: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The `event` object of a notification of `sub_type` for a subscription with `condition`."""
    current = SUPPORTED_TYPES.get(sub_type)
    if current is None:
        raise SimulatorError(
            f"unknown subscription type {sub_type!r}; see simulator.events.SUPPORTED_TYPES"
        )
    if version is not None and version != current:
        raise SimulatorError(f"{sub_type} is simulated in version {current} only, not {version}")
    overrides = dict(overrides or {})
    ctx = EventContext(condition or default_condition(sub_type), overrides)
    event = _GENERATORS[sub_type](ctx)
    return _merge(event, overrides)


def _coerce(raw: str, current: Any) -> Any:
    if raw == "null":
        return None
    if isinstance(current, bool):
        return raw.lower() in ("1", "true", "yes")
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    return raw


def apply_field_strings(event: dict[str, Any], assignments: Mapping[str, str]) -> dict[str, Any]:
    """Apply `--set a.b=value` strings, converting each to the type of the value it replaces.

    Ids stay strings and `bits=500` becomes an int, so a shell user needs no JSON quoting.
    """
    for path, raw in assignments.items():
        *parents, leaf = path.split(".")
        target = event
        for part in parents:
            child = target.get(part)
            if not isinstance(child, dict):
                child = target[part] = {}
            target = child
        try:
            target[leaf] = _coerce(raw, target.get(leaf))
        except ValueError:
            raise SimulatorError(
                f"--set {path}={raw}: expected a {type(target.get(leaf)).__name__}"
            ) from None
    return event
