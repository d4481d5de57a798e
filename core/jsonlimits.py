"""JSON from outside, parsed with a nesting limit.

`json.loads` recurses once per nesting level, so a few kilobytes of `[[[[...` raise
RecursionError (not ValueError) from deep inside the parser: code that only expects bad JSON
to raise ValueError is then killed by it. `loads_limited` first measures how deeply the text
nests, outside strings, with a few C-speed passes (no recursion), and refuses anything deeper
than the limit with `JsonTooDeep` before `json.loads` sees it.

Why the pre-scan is sound: `json.loads` only recurses while the text read so far is valid
JSON, and in valid JSON every string matches `_STRING` exactly, so the brackets left after
removing the strings are exactly the ones the parser nests on. Beyond the first invalid
character the parser stops (ValueError); counting further brackets there can only over-count.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from core.errors import StreamCoreError

__all__ = [
    "EVENTSUB_MAX_JSON_DEPTH",
    "MAX_JSON_DEPTH",
    "JsonTooDeep",
    "json_depth",
    "loads_limited",
]

#: Deepest nesting accepted from WebSocket clients of /ws/events. Their only message is
#: `{"op": "ping"}` (one level); 64 leaves room for any sane object and stays far below the
#: interpreter's recursion limit (1000), where json.loads fails.
MAX_JSON_DEPTH = 64

#: Deepest nesting accepted from EventSub. Twitch's payloads nest a handful of levels (frame ->
#: payload -> event -> message -> fragments -> item -> emote is 7); 128 is far beyond any of
#: them and still far below the recursion limit, also for the workers that parse the payload
#: again and for json.dumps, which recurses the same way.
EVENTSUB_MAX_JSON_DEPTH = 128

#: One JSON string: quote, then characters other than quote and backslash, or escapes.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
#: Every character that is not a bracket, removed before counting.
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonTooDeep(StreamCoreError, ValueError):
    """The JSON nests deeper than allowed. A ValueError too, like any other bad JSON."""


def json_depth(text: str) -> int:
    """How deeply `text` nests arrays and objects, brackets inside strings not counted."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(0, max(accumulate(map(_STEP.__getitem__, brackets))))


def loads_limited(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """`json.loads(text)`, refusing text nested deeper than `max_depth` with JsonTooDeep.

    Bad JSON raises ValueError (JsonTooDeep is one) as with json.loads; bytes are decoded the
    way json.loads decodes them (UTF-8, 16 or 32), so an undecodable frame raises
    UnicodeDecodeError, a ValueError as well.
    """
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode(json.detect_encoding(text), "surrogatepass")
    depth = json_depth(text)
    if depth > max_depth:
        raise JsonTooDeep(f"JSON nested {depth} levels deep (at most {max_depth} allowed)")
    try:
        return json.loads(text)
    except RecursionError:  # only if the interpreter's limit was set below max_depth
        raise JsonTooDeep(f"JSON nested too deeply for this interpreter ({depth} levels)") from None
