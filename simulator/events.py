"""Realistic `event` objects for every supported EventSub type.

The fields of each type's `event` follow Twitch's EventSub reference:
https://dev.twitch.tv/docs/eventsub/eventsub-reference/

`generate_event(type, version, condition, overrides)` builds the event for one subscription:
the users named in the condition appear in the event, other values are drawn at random from
`events_data`, and `overrides` (nested dicts merge) win over everything.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping
from typing import Any

from simulator import events_channel as channel
from simulator import events_chat as chat
from simulator import events_engagement as engagement
from simulator.catalogue import CURRENT_VERSIONS, lookup
from simulator.errors import SimulatorError
from simulator.event_context import ROLE_USERS, EventContext, PeopleLookup
from simulator.events_chat import (
    cheer_text,
    cheered_bits,
    cheermote,
    fragments_of,
    text_fragment,
)

__all__ = [
    "SUPPORTED_TYPES",
    "apply_field_strings",
    "chat_fragments",
    "default_condition",
    "generate_event",
    "reconcile",
    "unknown_type_message",
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
    people: PeopleLookup | None = None,
) -> dict[str, Any]:
    """The `event` object of a notification of `sub_type` for a subscription with `condition`;
    `people` names the simulator's own users (synthetic channels too)."""
    current = SUPPORTED_TYPES.get(sub_type)
    if current is None:
        raise SimulatorError(unknown_type_message(sub_type))
    if version is not None and version != current:
        raise SimulatorError(f"{sub_type} is simulated in version {current} only, not {version}")
    overrides = dict(overrides or {})
    ctx = EventContext(condition or default_condition(sub_type), overrides, people)
    event = _GENERATORS[sub_type](ctx)
    return _merge(event, overrides)


def unknown_type_message(sub_type: str) -> str:
    """Why `sub_type` cannot be simulated, with the nearest names and every supported one."""
    near = difflib.get_close_matches(sub_type, SUPPORTED_TYPES, n=3, cutoff=0.85)
    hint = f" Did you mean {', '.join(near)}?" if near else ""
    return (
        f"unknown subscription type {sub_type!r}.{hint} "
        f"Supported types: {', '.join(sorted(SUPPORTED_TYPES))}"
    )


_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _expected(current: Any) -> str:
    """What a `--set` value must look like to replace `current`, for the error message."""
    if isinstance(current, bool):
        return "true or false"
    if isinstance(current, int):
        return "a whole number"
    if isinstance(current, float):
        return "a number"
    if isinstance(current, list):
        return "a JSON list"
    return "a JSON object"


def _coerce(raw: str, current: Any) -> Any:
    if raw == "null":
        return None
    if isinstance(current, bool):
        return _BOOLEANS[raw.lower()]
    if isinstance(current, int):
        return int(raw)
    if isinstance(current, float):
        return float(raw)
    if isinstance(current, list | dict):
        value = json.loads(raw)
        if not isinstance(value, type(current)):
            raise ValueError(raw)
        return value
    return raw


def _fields_error(path: str, raw: str, where: str, name: str, target: Mapping[str, Any]) -> str:
    return (
        f"--set {path}={raw}: {where} has no field {name!r}. "
        f"Its fields: {', '.join(sorted(target)) or 'none'}"
    )


def apply_field_strings(
    event: dict[str, Any], assignments: Mapping[str, str], sub_type: str | None = None
) -> dict[str, Any]:
    """Apply `--set a.b=value` strings, converting each to the type of the value it replaces.

    Ids stay strings and `bits=500` becomes an int, so a shell user needs no JSON quoting; a
    list or object field takes JSON. A field the event does not have is refused with the list
    of those it has (inside a field that was null, any name goes: its shape is unknown). Then
    the fields derived from the ones set follow them (`reconcile`): a new `message.text` gets
    matching fragments, new bits a cheer message that adds up to them.
    """
    what = f"a {sub_type} event" if sub_type else "the event"
    for path, raw in assignments.items():
        *parents, leaf = path.split(".")
        if not all([*parents, leaf]):
            raise SimulatorError(f"--set {path}={raw}: a field name is empty")
        target = event
        known = True  # whether `target` came from the event (so its field names are known)
        walked: list[str] = []
        for part in parents:
            where = ".".join(walked) if walked else what
            if known and part not in target:
                raise SimulatorError(_fields_error(path, raw, where, part, target))
            child = target.get(part)
            if child is None:
                child = target[part] = {}
                known = False
            elif not isinstance(child, dict):
                raise SimulatorError(
                    f"--set {path}={raw}: {'.'.join([*walked, part])} is "
                    f"{_expected(child) if not isinstance(child, str) else 'text'}, "
                    "not an object with fields"
                )
            target = child
            walked.append(part)
        if known and leaf not in target:
            where = ".".join(walked) if walked else what
            raise SimulatorError(_fields_error(path, raw, where, leaf, target))
        current = target.get(leaf)
        try:
            target[leaf] = _coerce(raw, current)
        except (ValueError, KeyError):
            raise SimulatorError(f"--set {path}={raw}: expected {_expected(current)}") from None
    reconcile(event, set(assignments), sub_type)
    return event


def reconcile(event: dict[str, Any], assigned: set[str], sub_type: str | None = None) -> None:
    """Make the fields derived from the `assigned` paths agree with them, as Twitch's would.

    - `X.text` set without `X.fragments`: the fragments become one text fragment of the new
      text (and `X.emotes` ranges, where the object has them, none), so an overlay that draws
      fragments shows the text that was set. In a `channel.bits.use` cheer the cheermotes in
      the text become cheermote fragments.
    - `channel.cheer` and `channel.bits.use` cheers: `bits` set without the message gives a
      message whose cheermotes add up to the bits; a message set without `bits` gives the bits
      its cheermotes add up to (when it has any).
    """
    bits_cheer = sub_type == "channel.bits.use" and event.get("type") == "cheer"
    if sub_type == "channel.cheer" and isinstance(event.get("message"), str):
        if "bits" in assigned and "message" not in assigned and isinstance(event["bits"], int):
            event["message"] = cheer_text(event["bits"], _without_cheermotes(event["message"]))
        elif "message" in assigned and "bits" not in assigned:
            event["bits"] = cheered_bits(event["message"]) or event.get("bits")
    message = event.get("message")
    if bits_cheer and isinstance(message, dict) and isinstance(message.get("text"), str):
        text_given = "message.text" in assigned or "message" in assigned
        fragments_given = "message.fragments" in assigned or "message" in assigned
        if "bits" in assigned and not text_given and isinstance(event.get("bits"), int):
            message["text"] = cheer_text(event["bits"], _without_cheermotes(message["text"]))
            rebuild = not fragments_given
        else:
            if text_given and "bits" not in assigned:
                event["bits"] = cheered_bits(message["text"]) or event.get("bits")
            rebuild = text_given and not fragments_given
        if rebuild:
            message["fragments"] = fragments_of(message["text"], cheer=True)
    for path in assigned:
        parent, _, leaf = path.rpartition(".")
        if leaf != "text" or (bits_cheer and parent == "message"):
            continue
        holder = _at(event, parent)
        if holder is None or not isinstance(holder.get("text"), str):
            continue
        if "fragments" in holder and f"{parent}.fragments" not in assigned:
            holder["fragments"] = [text_fragment(holder["text"])] if holder["text"] else []
        if isinstance(holder.get("emotes"), list) and f"{parent}.emotes" not in assigned:
            holder["emotes"] = []


def _at(event: dict[str, Any], path: str) -> dict[str, Any] | None:
    target: Any = event
    for part in path.split(".") if path else []:
        target = target.get(part) if isinstance(target, dict) else None
    return target if isinstance(target, dict) else None


def _without_cheermotes(text: str) -> str:
    return " ".join(word for word in text.split(" ") if cheermote(word) is None)
