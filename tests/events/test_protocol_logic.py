"""The fan-out's protocol logic, without sockets: filters, replay merge, inbound rules, frames."""

from __future__ import annotations

import struct

import pytest

from bus.base import StreamEntry
from events.errors import InvalidFilter, InvalidSinceId
from events.filters import EventFilter, combine
from events.frames import Outgoing, text_frame
from events.inbound import InboundPolicy
from events.replay import LiveHold, parse_since, plan_replay


@pytest.mark.parametrize(
    ("spec", "name", "expected"),
    [
        ("follow,chat", "alert.follow", True),
        ("follow,chat", "chat.message", True),
        ("follow,chat", "alert.sub", False),
        ("sub", "alert.resub", False),
        ("alert.*", "alert.raid", True),
        ("alert.*", "chat.message", False),
        ("stream.online", "stream.online", True),
        ("stream.online", "stream.offline", False),
        ("", "anything.at.all", True),
    ],
)
def test_filter_matches_words_exact_names_and_globs(spec: str, name: str, expected: bool) -> None:
    assert EventFilter.parse(spec).matches(name) is expected


def test_filter_rejects_malformed_tokens_with_a_hint() -> None:
    with pytest.raises(InvalidFilter, match=r"alert\.\*"):
        EventFilter.parse("follow,bad token")


def test_key_scope_narrows_the_clients_own_filter() -> None:
    combined = combine(EventFilter.parse("follow,chat"), EventFilter.parse("alert.*"))
    assert combined.matches("alert.follow")
    assert not combined.matches("chat.message")
    assert not combined.matches("alert.sub")


def _entry(entry_id: str, name: str = "alert.follow") -> StreamEntry:
    return StreamEntry("eventlog", entry_id, {"event": name, "data": "{}", "ts": "t"})


def test_replay_sends_entries_after_since_and_reports_no_truncation() -> None:
    plan = plan_replay((100, 0), [_entry("100-1"), _entry("101-0")], _entry("90-0"), 0)
    assert [event.id for event in plan.events] == ["100-1", "101-0"]
    assert not plan.truncated


def test_replay_is_truncated_when_the_oldest_retained_entry_is_after_since() -> None:
    plan = plan_replay((50, 0), [_entry("90-0")], _entry("90-0"), 0)
    assert plan.truncated and plan.oldest == "90-0"


def test_replay_skips_entries_older_than_the_age_limit_and_says_so() -> None:
    plan = plan_replay((10, 0), [_entry("20-0"), _entry("2000-0")], _entry("10-0"), 1000)
    assert [event.id for event in plan.events] == ["2000-0"] and plan.truncated


def test_live_hold_release_drops_ids_already_replayed_and_keeps_order() -> None:
    hold = LiveHold(limit=10)
    for entry_id in ("5-0", "6-0", "7-0", "6-5"):
        assert hold.add(Outgoing("e", entry_id, "{}"))
    released = hold.release(last_replayed=(6, 0))
    assert [event.id for event in released] == ["7-0", "6-5"]


def test_live_hold_refuses_beyond_its_limit() -> None:
    hold = LiveHold(limit=1)
    assert hold.add(Outgoing("e", "1-0", "{}"))
    assert not hold.add(Outgoing("e", "2-0", "{}"))


@pytest.mark.parametrize("bad", ["", "abc", "1-2-3", "-1", "1700000000000-x"])
def test_since_must_be_a_stream_id(bad: str) -> None:
    with pytest.raises(InvalidSinceId):
        parse_since(bad)


def test_since_accepts_full_and_bare_ids() -> None:
    assert parse_since("1700000000000-3") == (1700000000000, 3)
    assert parse_since("0") == (0, 0)


@pytest.mark.parametrize(
    "bad",
    [
        "99999999999999999999-0",  # 20 digits, beyond Redis' unsigned 64-bit parts
        "18446744073709551616-0",  # 2**64
        "0-18446744073709551616",
        "18446744073709551615-18446744073709551615",  # the last id: nothing comes after it
        "\uff11\uff12\uff13-0",  # fullwidth digits: int() reads them, but no id looks so
        "123\n",  # a trailing newline slipped past the `$` of the old pattern
    ],
)
def test_since_refuses_what_is_not_a_redis_stream_id(bad: str) -> None:
    with pytest.raises(InvalidSinceId, match="since"):
        parse_since(bad)


def test_since_accepts_the_largest_ids_redis_can_read_after() -> None:
    assert parse_since("18446744073709551615") == (2**64 - 1, 0)
    assert parse_since("18446744073709551615-18446744073709551614") == (2**64 - 1, 2**64 - 2)


def test_inbound_policy_answers_ping_and_closes_on_size_rate_and_garbage() -> None:
    policy = InboundPolicy(max_bytes=100, rate=1, burst=2, now=0)
    assert policy.check('{"op": "ping"}', None, now=0).reply == "pong"
    assert policy.check('{"op": "ping"}', None, now=0).close_reason is None
    assert "too many" in (policy.check("{}", None, now=0).close_reason or "")
    assert policy.check("{}", None, now=5).close_reason is None
    assert "too big" in (policy.check("x" * 101, None, now=10).close_reason or "")
    assert "JSON" in (policy.check("nope", None, now=20).close_reason or "")
    assert "objects" in (policy.check("[1]", None, now=30).close_reason or "")
    assert "binary" in (policy.check(None, b"\x00", now=40).close_reason or "")


def test_requests_over_the_rate_are_answered_rate_limited_then_the_client_is_closed() -> None:
    policy = InboundPolicy(max_bytes=100, rate=1, burst=2, now=0)
    call = '{"op": "call", "id": 1, "action": "chat.send"}'
    assert [policy.check(call, None, now=0).limited for _ in range(2)] == [False, False]
    over = [policy.check(call, None, now=0) for _ in range(2)]
    assert all(v.limited and v.request is not None and v.close_reason is None for v in over)
    assert "too many" in (policy.check(call, None, now=0).close_reason or "")
    assert "too many" in (policy.check('{"op": "ping"}', None, now=0).close_reason or "")
    # The bucket refills at `rate`: four seconds later calls run again.
    assert policy.check(call, None, now=4).limited is False


def test_inbound_policy_closes_on_deeply_nested_json_instead_of_raising() -> None:
    # 4000 bytes, under the size limit: json.loads raised RecursionError here, which killed
    # the connection's reader without a word.
    policy = InboundPolicy(max_bytes=4096, rate=5, burst=20, now=0)
    reason = policy.check("[" * 4000, None, now=0).close_reason
    assert reason is not None and "nested more than 64 levels" in reason
    assert "nested" in (policy.check('{"a":' * 65 + "1" + "}" * 65, None, now=1).close_reason or "")
    # At the limit it is judged like any other frame.
    ping = '{"op": "ping", "x": ' + "[" * 63 + "]" * 63 + "}"
    assert policy.check(ping, None, now=2).reply == "pong"
    brackets = "[" * 64 + "]" * 64
    assert "objects" in (policy.check(brackets, None, now=3).close_reason or "")
    assert "nested" in (
        InboundPolicy(4096, 5, 20, 0, max_depth=2).check(ping, None, 0).close_reason or ""
    )


@pytest.mark.parametrize("size", [5, 125, 126, 65_535, 65_536, 70_000])
def test_text_frame_is_a_final_unmasked_text_frame_of_the_right_length(size: int) -> None:
    frame = text_frame(b"a" * size)
    assert frame[0] == 0x81 and frame[1] & 0x80 == 0
    marker = frame[1]
    if marker < 126:
        assert marker == size and len(frame) == 2 + size
    elif marker == 126:
        assert struct.unpack("!H", frame[2:4])[0] == size
    else:
        assert struct.unpack("!Q", frame[2:10])[0] == size
