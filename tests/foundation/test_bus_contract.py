"""The bus contract, written once and run against every backend (memory and real Redis)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bus import Bus, Message, Subscription
from bus.base import StreamCounts
from tests.polling import eventually


async def next_message(subscription: Subscription, within: float = 5.0) -> Message:
    return await asyncio.wait_for(subscription.get(), within)


async def test_pattern_subscription_receives_matching_channels_only(bus: Bus) -> None:
    async with bus.psubscribe("events:*") as subscription:
        await bus.publish("other:x", "ignored")
        await bus.publish("events:follow", '{"user":"a"}')
        message = await next_message(subscription)
    assert message.channel == "events:follow"
    assert message.data == '{"user":"a"}'


async def test_publish_reports_receivers(bus: Bus) -> None:
    # Pub/sub is server-wide in Redis (not per database), so use channels nobody else uses.
    prefix = f"contract-{uuid.uuid4().hex}"
    assert await bus.publish(f"{prefix}:nobody", "x") == 0
    async with bus.psubscribe(f"{prefix}:*") as subscription:
        assert await bus.publish(f"{prefix}:one", "x") == 1
        await next_message(subscription)


async def test_subscription_queue_is_bounded_and_drops_oldest(bus: Bus) -> None:
    async with bus.psubscribe("events:*", maxsize=3) as subscription:
        for index in range(6):
            await bus.publish("events:n", str(index))
        # Let the Redis listener task catch up with what it was sent.
        await eventually(lambda: subscription.dropped >= 3, what="the 3 oldest messages dropped")
        received = [(await next_message(subscription)).data for _ in range(3)]
    assert subscription.dropped == 3
    assert received == ["3", "4", "5"]


async def test_consumer_group_delivers_each_entry_once_in_order(bus: Bus) -> None:
    await bus.ensure_group("s", "g")
    ids = [await bus.append("s", {"n": str(i)}, maxlen=100) for i in range(5)]
    first = await bus.read_group("g", "c1", ["s"], count=3)
    second = await bus.read_group("g", "c2", ["s"], count=10)
    assert [e.fields["n"] for e in first + second] == ["0", "1", "2", "3", "4"]
    assert [e.id for e in first + second] == ids
    assert await bus.read_group("g", "c1", ["s"], count=10) == []


async def test_each_group_sees_every_entry(bus: Bus) -> None:
    await bus.ensure_group("s", "a")
    await bus.ensure_group("s", "b")
    await bus.append("s", {"n": "1"}, maxlen=100)
    assert len(await bus.read_group("a", "c", ["s"])) == 1
    assert len(await bus.read_group("b", "c", ["s"])) == 1


async def test_group_created_at_end_skips_history(bus: Bus) -> None:
    await bus.append("s", {"n": "old"}, maxlen=100)
    await bus.ensure_group("s", "late", start_id="$")
    await bus.append("s", {"n": "new"}, maxlen=100)
    entries = await bus.read_group("late", "c", ["s"])
    assert [e.fields["n"] for e in entries] == ["new"]


async def test_ensure_group_is_idempotent(bus: Bus) -> None:
    await bus.ensure_group("s", "g")
    await bus.append("s", {"n": "1"}, maxlen=100)
    await bus.read_group("g", "c", ["s"])
    await bus.ensure_group("s", "g")
    assert await bus.read_group("g", "c", ["s"]) == []


async def test_read_group_blocks_until_an_entry_arrives(bus: Bus) -> None:
    await bus.ensure_group("s", "g")

    async def append_later() -> None:
        await asyncio.sleep(0.1)
        await bus.append("s", {"n": "late"}, maxlen=100)

    task = asyncio.create_task(append_later())
    entries = await bus.read_group("g", "c", ["s"], block_ms=1500)
    await task
    assert [e.fields["n"] for e in entries] == ["late"]


async def test_read_group_block_times_out_empty(bus: Bus) -> None:
    await bus.ensure_group("s", "g")
    assert await bus.read_group("g", "c", ["s"], block_ms=50) == []


async def test_read_group_over_several_streams(bus: Bus) -> None:
    for stream in ("a", "b"):
        await bus.ensure_group(stream, "g")
    await bus.append("a", {"n": "a1"}, maxlen=100)
    await bus.append("b", {"n": "b1"}, maxlen=100)
    entries = await bus.read_group("g", "c", ["a", "b"])
    assert sorted((e.stream, e.fields["n"]) for e in entries) == [("a", "a1"), ("b", "b1")]


async def test_unacked_entries_stay_pending_until_acked(bus: Bus) -> None:
    await bus.ensure_group("s", "g")
    entry_id = await bus.append("s", {"n": "1"}, maxlen=100)
    await bus.read_group("g", "c", ["s"])
    pending = await bus.read_pending("g", "c", "s")
    assert [e.id for e in pending] == [entry_id]
    assert await bus.ack("s", "g", entry_id) == 1
    assert await bus.read_pending("g", "c", "s") == []
    assert await bus.ack("s", "g", entry_id) == 0


async def test_stale_pending_entry_is_claimed_after_a_consumer_crash(bus: Bus) -> None:
    await bus.ensure_group("s", "g")
    entry_id = await bus.append("s", {"n": "1"}, maxlen=100)
    await bus.read_group("g", "crashed", ["s"])
    assert await bus.claim_stale("s", "g", "survivor", min_idle_ms=60_000) == []
    await asyncio.sleep(0.06)
    claimed = await bus.claim_stale("s", "g", "survivor", min_idle_ms=50)
    assert [e.id for e in claimed] == [entry_id]
    assert [e.id for e in await bus.read_pending("g", "survivor", "s")] == [entry_id]
    assert await bus.read_pending("g", "crashed", "s") == []


async def test_retention_is_bounded(bus: Bus) -> None:
    for index in range(500):
        await bus.append("s", {"n": str(index)}, maxlen=100)
    entries = await bus.read_range("s")
    # Trimming is approximate (`MAXLEN ~`), but bounded and always keeps the newest.
    assert 100 <= len(entries) <= 250
    assert entries[-1].fields["n"] == "499"


async def test_range_reads_by_id(bus: Bus) -> None:
    ids = [await bus.append("s", {"n": str(i)}, maxlen=100) for i in range(5)]
    assert [e.id for e in await bus.read_range("s", ids[1], ids[3])] == ids[1:4]
    assert [e.id for e in await bus.read_range("s", f"({ids[1]}")] == ids[2:]
    assert [e.id for e in await bus.read_range("s", "-", "+", count=2)] == ids[:2]
    assert await bus.read_range("missing") == []


async def test_group_info_reports_pending_and_lag(bus: Bus) -> None:
    assert await bus.group_info("s", "g") is None
    await bus.ensure_group("s", "g")
    for index in range(3):
        await bus.append("s", {"n": str(index)}, maxlen=100)
    await bus.read_group("g", "c", ["s"], count=1)
    info = await bus.group_info("s", "g")
    assert info is not None
    assert (info.pending, info.lag) == (1, 2)


async def test_set_if_absent_expires(bus: Bus) -> None:
    assert await bus.set_if_absent("dedupe:1", "x", ttl_s=1) is True
    assert await bus.set_if_absent("dedupe:1", "x", ttl_s=1) is False
    await asyncio.sleep(1.2)
    assert await bus.set_if_absent("dedupe:1", "x", ttl_s=1) is True


async def test_a_token_bucket_allows_its_burst_then_says_how_long_to_wait(bus: Bus) -> None:
    # A burst of 3 refilled at 2 a second: three calls pass at once, the fourth waits ~0.5 s.
    assert [await bus.take_token("bucket:a", 2.0, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await bus.take_token("bucket:a", 2.0, 3)
    assert 0.3 < wait <= 0.5
    assert await bus.take_token("bucket:b", 2.0, 3) == 0.0  # another key, another bucket
    await asyncio.sleep(wait + 0.05)
    assert await bus.take_token("bucket:a", 2.0, 3) == 0.0  # refilled
    assert await bus.take_token("bucket:a", 2.0, 3) > 0


async def test_delete_key_releases_it(bus: Bus) -> None:
    assert await bus.set_if_absent("lock", "me", ttl_s=30)
    await bus.delete_key("lock")
    assert await bus.set_if_absent("lock", "other", ttl_s=30)


@pytest.mark.parametrize("count", [1, 50])
async def test_stream_ids_increase_strictly(bus: Bus, count: int) -> None:
    ids = [await bus.append("s", {"n": str(i)}, maxlen=1000) for i in range(count)]
    parsed = [tuple(int(p) for p in i.split("-")) for i in ids]
    assert parsed == sorted(set(parsed))


async def test_append_unique_appends_once_per_key(bus: Bus) -> None:
    key = f"dedupe:contract:{uuid.uuid4().hex}"
    first = await bus.append_unique("u", {"n": "1"}, 100, key, ttl_s=60)
    second = await bus.append_unique("u", {"n": "2"}, 100, key, ttl_s=60)
    entries = await bus.read_range("u")
    assert first is not None and second is None
    assert [(e.id, e.fields) for e in entries] == [(first, {"n": "1"})]
    # The key is the ordinary set-if-absent key: it is taken, and deleting it frees it again.
    assert await bus.set_if_absent(key, "x", 60) is False
    await bus.delete_key(key)
    assert await bus.append_unique("u", {"n": "3"}, 100, key, ttl_s=60) is not None


async def test_append_unique_key_expires(bus: Bus) -> None:
    key = f"dedupe:contract:{uuid.uuid4().hex}"
    assert await bus.append_unique("u", {"n": "1"}, 100, key, ttl_s=1) is not None
    await asyncio.sleep(1.2)
    assert await bus.append_unique("u", {"n": "1"}, 100, key, ttl_s=1) is not None
    assert len(await bus.read_range("u")) == 2


async def test_append_unique_many_keeps_order_and_skips_duplicates(bus: Bus) -> None:
    keys = [f"dedupe:contract:{uuid.uuid4().hex}" for _ in range(3)]
    items = [("u", {"n": str(i)}, 100, keys[i % 3], 60) for i in range(5)]  # 3 and 4 repeat
    results = await bus.append_unique_many(items)
    assert [r is not None for r in results] == [True, True, True, False, False]
    assert [e.fields["n"] for e in await bus.read_range("u")] == ["0", "1", "2"]
    assert await bus.append_unique_many(items) == [None] * 5
    assert await bus.append_unique_many([]) == []


async def test_read_after_tails_a_stream_from_a_position_the_reader_keeps(bus: Bus) -> None:
    assert (await bus.stream_counts("tail")).last_id == "0-0"
    first = await bus.append("tail", {"n": "1"}, maxlen=100)
    assert (await bus.stream_counts("tail")).last_id == first
    second = await bus.append("tail", {"n": "2"}, maxlen=100)
    assert [e.id for e in await bus.read_after("tail", "0-0")] == [first, second]
    assert [e.fields["n"] for e in await bus.read_after("tail", first)] == ["2"]
    assert await bus.read_after("tail", second) == []
    assert await bus.read_after("tail", second, block_ms=50) == []


async def test_read_after_blocks_until_an_entry_arrives(bus: Bus) -> None:
    end = (await bus.stream_counts("tail")).last_id
    reader = asyncio.create_task(bus.read_after("tail", end, block_ms=2_000))
    await asyncio.sleep(0.05)
    appended = await bus.append("tail", {"n": "late"}, maxlen=100)
    [entry] = await asyncio.wait_for(reader, 5)
    assert (entry.id, entry.fields) == (appended, {"n": "late"})


async def test_stream_counts_tell_how_many_were_trimmed(bus: Bus) -> None:
    assert await bus.stream_counts("counted") == StreamCounts("0-0", 0, 0)
    for n in range(500):
        last = await bus.append("counted", {"n": str(n)}, maxlen=100)
    counts = await bus.stream_counts("counted")
    assert (counts.last_id, counts.added) == (last, 500)
    # About maxlen kept (both trim in batches), and what is kept is the newest.
    assert 100 <= counts.length < 250 and counts.trimmed == 500 - counts.length
    kept = [e.fields["n"] for e in await bus.read_range("counted")]
    assert kept == [str(n) for n in range(counts.trimmed, 500)]


async def test_append_once_answers_the_first_id_for_a_repeat(bus: Bus) -> None:
    first, appended = await bus.append_once("log", {"n": "1"}, 100, "once:a", ttl_s=60)
    again, appended_again = await bus.append_once("log", {"n": "1"}, 100, "once:a", ttl_s=60)
    other, _ = await bus.append_once("log", {"n": "2"}, 100, "once:b", ttl_s=60)
    assert (appended, appended_again) == (True, False)
    assert again == first
    assert [e.id for e in await bus.read_range("log")] == [first, other]


async def test_consumers_are_listed_with_their_pending_entries_and_can_be_deleted(
    bus: Bus,
) -> None:
    await bus.ensure_group("s", "g")
    await bus.append("s", {"n": "1"}, maxlen=100)
    await bus.append("s", {"n": "2"}, maxlen=100)
    [first] = await bus.read_group("g", "holder", ["s"], count=1)
    [second] = await bus.read_group("g", "done", ["s"], count=1)
    await bus.ack("s", "g", second.id)
    found = {c.name: c.pending for c in await bus.consumers("s", "g")}
    assert found == {"holder": 1, "done": 0}
    await bus.delete_consumer("s", "g", "done")
    assert [c.name for c in await bus.consumers("s", "g")] == ["holder"]
    assert await bus.consumers("s", "no-such-group") == []
    assert first.fields == {"n": "1"}
