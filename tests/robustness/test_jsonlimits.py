"""core.jsonlimits: JSON from outside parsed with a nesting limit, never a RecursionError."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from core.errors import StreamCoreError
from core.jsonlimits import (
    EVENTSUB_MAX_JSON_DEPTH,
    MAX_JSON_DEPTH,
    JsonTooDeep,
    json_depth,
    loads_limited,
)


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ('"[[[{{{"', 0),  # brackets inside strings do not nest
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        (r'["a\"[[", [1, {"x": [2]}]]', 4),  # an escaped quote does not end the string
        (r'["\\", [[]]]', 3),  # an escaped backslash does not escape the closing quote
        ("[" * 10, 10),  # unterminated: json.loads would still recurse this deep
        ("]]]][[", 0),  # invalid from the first character: json.loads never nests
        ("", 0),
    ],
)
def test_depth_counts_brackets_outside_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_at_the_limit_parses_beyond_it_is_refused_with_the_numbers() -> None:
    at_limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert loads_limited(at_limit) == json.loads(at_limit)
    with pytest.raises(
        JsonTooDeep, match=f"{MAX_JSON_DEPTH + 1} levels deep.*at most {MAX_JSON_DEPTH}"
    ):
        loads_limited("[" + at_limit + "]")


@pytest.mark.parametrize("text", ["[" * 4000, "[" * 200_000 + "]" * 200_000, '{"a":' * 5000])
def test_hostile_nesting_raises_a_value_error_not_recursion_error(text: str) -> None:
    with pytest.raises(JsonTooDeep) as raised:
        loads_limited(text, EVENTSUB_MAX_JSON_DEPTH)
    # Callers that catch bad JSON (ValueError) or StreamCore's errors catch this too.
    assert isinstance(raised.value, ValueError) and isinstance(raised.value, StreamCoreError)


def test_bytes_are_decoded_as_json_loads_decodes_them() -> None:
    assert loads_limited('{"a": ["é"]}'.encode()) == {"a": ["é"]}
    assert loads_limited('{"a": [1]}'.encode("utf-16")) == {"a": [1]}
    with pytest.raises(JsonTooDeep):
        loads_limited(("[" * 100).encode(), max_depth=10)
    with pytest.raises(ValueError):
        loads_limited(b"\xff\xfe\xff")


def _random_json(rng: random.Random, depth: int) -> Any:
    """Random documents whose strings are full of brackets, quotes and backslashes."""
    roll = rng.random()
    if depth == 0 or roll < 0.3:
        alphabet = '[]{}"\\ ab,:é\n'
        return rng.choice(
            [None, True, 1.5, -3, "".join(rng.choices(alphabet, k=rng.randint(0, 8)))]
        )
    if roll < 0.65:
        return [_random_json(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {str(rng.random()): _random_json(rng, depth - 1) for _ in range(rng.randint(0, 3))}


def _true_depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_true_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_true_depth(v) for v in value.values()), default=0)
    return 0


def test_depth_and_result_match_json_loads_on_random_documents() -> None:
    rng = random.Random(20240611)
    for _ in range(2000):
        value = _random_json(rng, rng.randint(0, 12))
        text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
        assert json_depth(text) == _true_depth(value), text
        assert loads_limited(text, max_depth=12) == json.loads(text)
