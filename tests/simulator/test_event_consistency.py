"""Generated events agree with themselves, and `--set` keeps them so (no server needed).

- A cheer's cheermotes add up to its bits (Twitch rejects a cheer whose amounts do not).
- `--set message.text=...` rebuilds the message fragments, which overlays draw.
- `--set` refuses a field the event does not have, listing those it has, and says in plain
  words what a value must look like.
- An unknown type lists the supported ones.
"""

from __future__ import annotations

import re

import pytest

from simulator.errors import SimulatorError
from simulator.events import SUPPORTED_TYPES, apply_field_strings, generate_event

ROUNDS = 200  # the generators draw at random: enough draws to meet every branch
CHEERMOTE = re.compile(r"^cheer([1-9][0-9]*)$", re.IGNORECASE)


def cheered_bits(text: str) -> int:
    """What the cheermotes (`Cheer100`) in a message add up to, as Twitch counts them."""
    return sum(int(m.group(1)) for m in map(CHEERMOTE.match, text.split(" ")) if m)


def test_every_generated_cheer_message_adds_up_to_its_bits():
    for _ in range(ROUNDS):
        event = generate_event("channel.cheer")
        assert isinstance(event["bits"], int) and event["bits"] >= 1
        assert cheered_bits(event["message"]) == event["bits"], event


def test_every_generated_bits_use_cheer_has_cheermote_fragments_that_add_up():
    for _ in range(ROUNDS):
        event = generate_event("channel.bits.use", overrides={"type": "cheer"})
        message = event["message"]
        assert cheered_bits(message["text"]) == event["bits"], event
        motes = [f["cheermote"] for f in message["fragments"] if f["type"] == "cheermote"]
        assert motes and sum(m["bits"] for m in motes) == event["bits"]
        assert "".join(f["text"] for f in message["fragments"]) == message["text"]


def test_a_power_up_message_carries_no_cheermote():
    for _ in range(50):
        event = generate_event("channel.bits.use", overrides={"type": "power_up"})
        assert cheered_bits(event["message"]["text"]) == 0


def test_given_bits_shape_the_cheer_message_and_a_given_message_the_bits():
    assert cheered_bits(generate_event("channel.cheer", overrides={"bits": 42})["message"]) == 42
    event = generate_event("channel.cheer", overrides={"message": "Cheer7 cheer3 hi"})
    assert event["bits"] == 10


@pytest.mark.parametrize("bits", ["1", "500", "1234"])
def test_set_bits_on_a_cheer_rewrites_its_cheermotes(bits):
    for _ in range(20):
        event = apply_field_strings(
            generate_event("channel.cheer"), {"bits": bits}, "channel.cheer"
        )
        assert event["bits"] == int(bits)
        assert cheered_bits(event["message"]) == int(bits), event


def test_set_message_and_bits_together_are_kept_as_given():
    event = apply_field_strings(
        generate_event("channel.cheer"),
        {"bits": "500", "message": "Cheer500 hype"},
        "channel.cheer",
    )
    assert (event["bits"], event["message"]) == (500, "Cheer500 hype")


def test_set_message_text_rebuilds_the_chat_fragments_as_one_text_fragment():
    for _ in range(20):  # whatever the generated line had: emotes, mentions
        event = apply_field_strings(
            generate_event("channel.chat.message"), {"message.text": "hello there Kappa"}
        )
        assert event["message"]["text"] == "hello there Kappa"
        assert [(f["type"], f["text"]) for f in event["message"]["fragments"]] == [
            ("text", "hello there Kappa")
        ]


def test_set_message_text_keeps_fragments_that_are_set_too():
    fragments = (
        '[{"type": "text", "text": "hi", "emote": null, "mention": null, "cheermote": null}]'
    )
    event = apply_field_strings(
        generate_event("channel.chat.message"),
        {"message.text": "hi", "message.fragments": fragments},
    )
    assert event["message"]["fragments"] == [
        {"type": "text", "text": "hi", "emote": None, "mention": None, "cheermote": None}
    ]


def test_set_an_unknown_field_is_refused_with_the_fields_of_that_event():
    with pytest.raises(SimulatorError) as refused:
        apply_field_strings(
            generate_event("channel.follow"), {"nosuchfield": "1"}, "channel.follow"
        )
    message = str(refused.value)
    assert "nosuchfield" in message and "channel.follow" in message
    for field in generate_event("channel.follow"):
        assert field in message


def test_set_an_unknown_nested_field_lists_the_fields_of_its_parent():
    with pytest.raises(SimulatorError, match=r"message has no field 'colour'.*fragments, text"):
        apply_field_strings(generate_event("channel.chat.message"), {"message.colour": "red"})


def test_set_inside_a_null_field_is_allowed():
    event = apply_field_strings(
        generate_event("channel.chat.message"), {"reply.parent_message_id": "abc"}
    )
    assert event["reply"] == {"parent_message_id": "abc"}


@pytest.mark.parametrize(
    ("event_type", "path", "raw", "expected"),
    [
        ("channel.raid", "viewers", "lots", "expected a whole number"),
        ("channel.raid", "viewers", "1.5", "expected a whole number"),
        ("channel.subscribe", "is_gift", "maybe", "expected true or false"),
        ("channel.chat.message", "badges", "gold", "expected a JSON list"),
    ],
)
def test_a_value_of_the_wrong_kind_says_what_it_must_be(event_type, path, raw, expected):
    with pytest.raises(SimulatorError) as refused:
        apply_field_strings(generate_event(event_type), {path: raw})
    assert str(refused.value) == f"--set {path}={raw}: {expected}"


def test_an_unknown_type_lists_the_supported_ones_and_the_nearest():
    with pytest.raises(SimulatorError) as refused:
        generate_event("channel.folow")
    message = str(refused.value)
    assert "Did you mean channel.follow?" in message
    assert all(name in message for name in SUPPORTED_TYPES)
