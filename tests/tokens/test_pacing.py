"""The Helix pacer: calls run freely while the bucket has points, at the refill rate after."""

from __future__ import annotations

import asyncio

from tokens.pacing import Pacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def answered(pacer: Pacer, remaining: int, limit: int = 60) -> None:
    pacer.after({"ratelimit-remaining": str(remaining), "ratelimit-limit": str(limit)})


async def test_no_wait_before_twitch_said_anything_or_while_points_are_left() -> None:
    time = FakeTime()
    pacer = Pacer(time.clock, time.sleep)
    await pacer.before()
    answered(pacer, 2)
    await pacer.before()
    answered(pacer, 1)
    await pacer.before()
    answered(pacer, 0)
    assert time.slept == []


async def test_an_empty_bucket_waits_one_refill_per_call() -> None:
    time = FakeTime()
    pacer = Pacer(time.clock, time.sleep)
    await pacer.before()
    answered(pacer, 0, limit=120)  # 2 points a second
    for _ in range(4):
        await pacer.before()
        pacer.after({})
    assert time.slept == [0.5, 0.5, 0.5, 0.5]
    assert pacer.waited_s == 2.0


async def test_calls_in_flight_count_against_the_answered_remaining() -> None:
    time = FakeTime()
    pacer = Pacer(time.clock, time.sleep)
    await pacer.before()
    answered(pacer, 3)
    # Three calls go out before any answer: the third finds none left after the answer below.
    for _ in range(3):
        await pacer.before()
    answered(pacer, 1)  # the server counted one of them; two are still in flight
    assert pacer.remaining == 0
    waiting = asyncio.create_task(pacer.before())
    await waiting
    assert time.slept == [1.0]


async def test_the_estimate_refills_with_time() -> None:
    time = FakeTime()
    pacer = Pacer(time.clock, time.sleep)
    await pacer.before()
    answered(pacer, 0)
    time.now += 5  # 5 points back at 60 a minute
    for _ in range(5):
        await pacer.before()
        pacer.after({})
    assert time.slept == []
