"""Raw PUBLISHes to events:<name>: recognised apart from StreamCore's own envelopes, wrapped
into the log once across replicas (by the coordinator only), on every bus backend; and the
broadcaster's dedicated tail connection (Redis) reading the same entries as the pooled client."""

from __future__ import annotations

import asyncio
import contextlib
import json

from bus import Bus
from bus.redis import RedisBus
from bus.redis_tail import RedisTail
from core.channels import ChannelTag
from core.constants import EVENTS_LOG_STREAM
from events.publisher import envelope_text
from events.raw import RawEventWrapper, is_envelope
from tests.polling import eventually


def test_envelopes_are_told_apart_from_raw_messages() -> None:
    plain = envelope_text(
        "alert.follow", '{"user":"ada"}', "1733000000000-0", "2026-12-01T10:00:00.000Z"
    )
    tagged = envelope_text(
        "chat.message",
        '{"text":"\\",\\"id\\":\\"1-1\\""}',
        "1733000000000-12",
        "2026-12-01T10:00:00.000Z",
        ChannelTag("42", "ada").as_json(),
    )
    assert is_envelope(plain) and is_envelope(tagged)
    # Any key order or spacing that parses as an envelope still counts (the slow path).
    assert is_envelope(json.dumps({"event": "x", "data": 1, "ts": "t", "id": "1-0"}))
    for raw in (
        '{"x":1}',
        "plain text",
        '{"event":"x","id":"1-1","ts":"2026-12-01T10:00:00.000Z"}',  # no data
        '{"event":"x","data":1}',
        '{"event":"x","data":1,"id":5,"ts":"t"}',  # a number id is not the log's
        "",
    ):
        assert not is_envelope(raw), raw


async def test_only_the_coordinator_wraps_a_raw_message_once(bus: Bus) -> None:
    coordinator = RawEventWrapper(bus, 100, lambda: True)
    other = RawEventWrapper(bus, 100, lambda: False)
    tasks = [asyncio.create_task(w.run()) for w in (coordinator, other)]
    try:
        await eventually(lambda: coordinator.listening, what="the coordinator listening")
        await bus.publish("events:foo", '{"x":1}')
        await bus.publish("events:foo", envelope_text("foo", "1", "1-1", "t"))  # already logged
        await bus.publish("events:bar", "plain text")

        async def logged() -> list[tuple[str, str]]:
            entries = await bus.read_range(EVENTS_LOG_STREAM)
            return [(e.fields["event"], e.fields["data"]) for e in entries]

        async def both() -> bool:
            return len(await logged()) >= 2

        await eventually(both, what="the raw messages logged")
        await asyncio.sleep(0.2)
        assert await logged() == [("foo", '{"x":1}'), ("bar", '"plain text"')]
        assert (coordinator.wrapped, other.wrapped, other.listening) == (2, 0, False)
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_a_wrapper_stops_listening_when_it_stops_coordinating(bus: Bus) -> None:
    role = {"coordinator": True}
    wrapper = RawEventWrapper(bus, 100, lambda: role["coordinator"])
    task = asyncio.create_task(wrapper.run())
    try:
        await eventually(lambda: wrapper.listening, what="listening")
        role["coordinator"] = False
        await eventually(lambda: not wrapper.listening, what="stopped listening")
        await bus.publish("events:foo", "after")
        await asyncio.sleep(0.3)
        assert await bus.read_range(EVENTS_LOG_STREAM) == []
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_dedicated_tail_reads_what_the_pooled_client_reads(redis_url: str) -> None:
    bus = RedisBus(redis_url)
    await bus.connect()
    tail = bus.tail_reader()
    assert isinstance(tail, RedisTail)
    try:
        assert await tail.read_after(EVENTS_LOG_STREAM, "0-0", 10, 50) == []
        ids = [
            await bus.append(EVENTS_LOG_STREAM, {"event": "e", "data": str(n), "ts": "t"}, 100)
            for n in range(3)
        ]
        got = await tail.read_after(EVENTS_LOG_STREAM, "0-0", 10, 50)
        assert got == await bus.read_after(EVENTS_LOG_STREAM, "0-0", count=10)
        assert [e.id for e in got] == ids and got[2].fields["data"] == "2"
        # Blocking: an entry appended while the read waits is returned at once.
        waiting = asyncio.create_task(tail.read_after(EVENTS_LOG_STREAM, ids[-1], 10, 2000))
        await asyncio.sleep(0.05)
        late = await bus.append(EVENTS_LOG_STREAM, {"event": "late", "data": "1", "ts": "t"}, 100)
        assert [e.id for e in await asyncio.wait_for(waiting, 2)] == [late]
        # A cancelled read drops its connection; the next read opens a fresh one.
        cancelled = asyncio.create_task(tail.read_after(EVENTS_LOG_STREAM, late, 10, 2000))
        await asyncio.sleep(0.05)
        cancelled.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cancelled
        assert await tail.read_after(EVENTS_LOG_STREAM, ids[-1], 10, 50) != []
    finally:
        await tail.close()
        await bus.close()
